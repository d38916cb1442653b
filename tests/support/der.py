"""DER TLVs for the suite's hand-built SPNEGO tokens (krb_mic_client.py, spnegoclient.py):
tlv(tag, body) builds one (bodies up to 65535 bytes), der_read(b, i) reads the one at b[i]."""


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xff])
    return bytes([tag]) + ln + body


def der_read(b, i=0):
    """(tag, contents, next index) of the element at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], 'big')
        i += k
    return tag, b[i:i + n], i + n
