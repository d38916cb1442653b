/* libFuzzer target for the MS-KKDCP codec: decode; a message that decodes re-encodes its
 * kerb-message as a reply and decodes back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/kkdcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kkdcp_request m;
    int r = kkdcp_decode(data, size, KKDCP_MAX_MESSAGE, &m);
    if (r > 0 || r < KKDCP_ERR_REALM)
        abort();
    if (r != KKDCP_OK)
        return 0;
    if (m.kerb < data || m.kerb + m.kerb_len > data + size || m.kerb_len < 5 ||
        kkdcp_framed_len(m.kerb) != m.kerb_len || !memchr(m.realm, 0, sizeof m.realm))
        abort();
    struct buf out = BUF_INIT;
    if (kkdcp_encode_reply(m.kerb, m.kerb_len, &out) != 0)
        abort();
    struct kkdcp_request back;
    if (kkdcp_decode(buf_data(&out), buf_len(&out), KKDCP_MAX_MESSAGE, &back) != KKDCP_OK ||
        back.kerb_len != m.kerb_len || memcmp(back.kerb, m.kerb, m.kerb_len) != 0 || back.realm[0])
        abort();
    buf_free(&out);
    return 0;
}
