/* Kerberos (RFC 4120/4121) through SPNEGO, the acceptor side: MIT krb5's GSSAPI with acceptor
 * credentials from a keytab, RFC 5929 tls-server-end-point channel bindings, the SPNEGO
 * mechListMIC, the client's principal and its PAC.
 *
 * krb_accept() blocks (it reads the keytab and writes the replay cache): the daemon runs it on
 * the directory worker threads (daemon/logon_krb.c), never on the loop. Kerberos through
 * SPNEGO is one round trip: the security context lives only inside krb_accept().
 * krb_cb_from_cert_der() is pure. */
#ifndef TSGW_AUTH_KRB_H
#define TSGW_AUTH_KRB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KRB_CB_MAX 96     /* "tls-server-end-point:" + a hash of up to 64 bytes */
#define KRB_MIC_MAX 128   /* a krb5 MIC token (RFC 4121: 16 + checksum) */
#define KRB_PAC_MAX 65536 /* bigger PACs are refused */
#define KRB_NAME_MAX 256  /* principal names */
#define KRB_MECHLIST_MAX 256

/* The RFC 5929 tls-server-end-point application data of a certificate (DER):
 * "tls-server-end-point:" followed by the certificate's hash with the hash of its signature
 * algorithm, MD5 and SHA-1 replaced by SHA-256. Returns its length, or -1 (unparsable
 * certificate, a signature without a hash such as Ed25519, outsz too small). */
int krb_cb_from_cert_der(const uint8_t *der, size_t len, uint8_t *out, size_t outsz);

enum krb_rc {
    KRB_OK = 0,
    KRB_DENIED = 1,       /* the token does not prove an identity: reason says why */
    KRB_BAD_BINDINGS = 2, /* channel bindings differ from the gateway's (or missing, required) */
    KRB_ERROR = 3,        /* the gateway's side: keytab unreadable, out of memory */
};

struct krb_accept_req {
    char keytab[PATH_MAX];
    char principal[KRB_NAME_MAX]; /* the acceptor's name: "HTTP/rdgw.contoso.test" */
    const uint8_t *token;         /* the initiator's krb5 token (AP-REQ), not copied */
    size_t token_len;
    uint8_t cb[KRB_CB_MAX]; /* channel-binding application data; cb_len 0: none */
    size_t cb_len;
    bool
        cb_required; /* refuse unless the initiator's bindings matched (GSS_C_CHANNEL_BOUND_FLAG) */
    /* SPNEGO mechListMIC: the initiator's MechTypeList (DER), its MIC (peer_mic_len 0: none),
     * and whether the answer must carry one even without the initiator's */
    uint8_t mech_list[KRB_MECHLIST_MAX];
    size_t mech_list_len;
    uint8_t peer_mic[KRB_MIC_MAX];
    size_t peer_mic_len;
    bool want_mic;
    bool want_pac; /* fetch the PAC (urn:mspac:) */
};

struct krb_accept_res {
    int rc;                    /* enum krb_rc */
    char reason[256];          /* readable, when rc != KRB_OK */
    char client[KRB_NAME_MAX]; /* "alice@CONTOSO.TEST" (also on some failures, else "") */
    bool channel_bound;        /* the initiator sent bindings and they matched */
    bool mutual;
    uint8_t reply[4096]; /* the AP-REP (mutual authentication) */
    size_t reply_len;
    uint8_t mic[KRB_MIC_MAX]; /* the acceptor's mechListMIC (mic_len 0: none) */
    size_t mic_len;
    uint8_t *pac; /* malloc'd, NULL when the ticket had none or want_pac was false */
    size_t pac_len;
};

/* Accepts one AP-REQ. Always fills res (free res->pac with krb_accept_res_clear). */
void krb_accept(const struct krb_accept_req *req, struct krb_accept_res *res);
void krb_accept_res_clear(struct krb_accept_res *res);

#endif
