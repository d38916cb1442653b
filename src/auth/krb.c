/* Kerberos acceptor through MIT GSSAPI (see krb.h). */
#include "auth/krb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "auth/chanbind.h"
#include "core/util.h"

int krb_cb_from_cert_der(const uint8_t *der, size_t len, uint8_t *out, size_t outsz)
{
    uint8_t h[CHANBIND_HASH_MAX];
    size_t pl = sizeof CHANBIND_PREFIX - 1;
    int hl = out ? chanbind_cert_hash(der, len, h, NULL) : -1;
    if (hl < 0 || pl + (size_t)hl > outsz)
        return -1;
    memcpy(out, CHANBIND_PREFIX, pl);
    memcpy(out + pl, h, (size_t)hl);
    return (int)(pl + (size_t)hl);
}

/* The mechanism's words for a minor status. */
static void minor_text(OM_uint32 minor, char *out, size_t outsz)
{
    OM_uint32 m2, more = 0;
    gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
    out[0] = 0;
    if (minor == 0)
        return;
    if (gss_display_status(&m2, minor, GSS_C_MECH_CODE, (gss_OID)gss_mech_krb5, &more, &b) ==
            GSS_S_COMPLETE &&
        b.length)
        snprintf(out, outsz, "%.*s", (int)(b.length > 120 ? 120 : b.length), (char *)b.value);
    gss_release_buffer(&m2, &b);
}

/* A readable reason for a refused token. */
static void set_reason(struct krb_accept_res *res, const char *what, OM_uint32 major,
                       OM_uint32 minor)
{
    char mt[128];
    minor_text(minor, mt, sizeof mt);
    const char *cls;
    switch ((krb5_error_code)minor) {
    case KRB5KRB_AP_ERR_TKT_EXPIRED:
        cls = "ticket expired";
        break;
    case KRB5KRB_AP_ERR_SKEW:
        cls = "clock skew too great";
        break;
    case KRB5KRB_AP_ERR_REPEAT:
        cls = "replayed authenticator";
        break;
    case KRB5KRB_AP_WRONG_PRINC:
    case KRB5KRB_AP_ERR_NOT_US:
    case KRB5_KT_NOTFOUND:
    case KRB5_KT_KVNONOTFOUND:
        cls = "ticket for another service (no key for it in the keytab)";
        break;
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    case KRB5KRB_AP_ERR_MODIFIED:
        cls = "ticket not decryptable with the keytab's key";
        break;
    case KRB5KRB_AP_ERR_TKT_NYV:
        cls = "ticket not yet valid";
        break;
    default:
        cls = major == GSS_S_DEFECTIVE_TOKEN       ? "malformed Kerberos token"
              : major == GSS_S_CREDENTIALS_EXPIRED ? "ticket expired"
                                                   : "Kerberos token refused";
    }
    snprintf(res->reason, sizeof res->reason, "%.40s%s%s (%.80s)", what, *what ? ": " : "", cls,
             mt[0] ? mt : "no detail");
}

/* Is there a key for the principal in the keytab? Checked with the krb5 API first: MIT 1.20's
 * gss_acquire_cred_from leaks the principal it copied when the keytab has no key for it. */
static bool keytab_has(const struct krb_accept_req *req, struct krb_accept_res *res)
{
    krb5_context k = NULL;
    krb5_principal p = NULL;
    krb5_keytab kt = NULL;
    krb5_error_code rc = krb5_init_context(&k);
    if (!rc)
        rc = krb5_parse_name(k, req->principal, &p);
    if (!rc)
        rc = krb5_kt_resolve(k, req->keytab, &kt);
    if (!rc) {
        krb5_keytab_entry e;
        rc = krb5_kt_get_entry(k, kt, p, 0, 0, &e);
        if (!rc)
            krb5_free_keytab_entry_contents(k, &e);
    }
    if (rc) {
        const char *m = k ? krb5_get_error_message(k, rc) : NULL;
        snprintf(res->reason, sizeof res->reason, "no key for %.60s in keytab %.48s (%.100s)",
                 req->principal, req->keytab, m ? m : "cannot initialise krb5");
        if (m)
            krb5_free_error_message(k, m);
        res->rc = KRB_ERROR;
    }
    if (kt)
        krb5_kt_close(k, kt);
    if (p)
        krb5_free_principal(k, p);
    if (k)
        krb5_free_context(k);
    return rc == 0;
}

static gss_cred_id_t acceptor_cred(const struct krb_accept_req *req, struct krb_accept_res *res)
{
    OM_uint32 major, minor;
    if (!keytab_has(req, res))
        return GSS_C_NO_CREDENTIAL;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc nb = {strlen(req->principal), (void *)req->principal};
    major = gss_import_name(&minor, &nb, (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME, &name);
    if (GSS_ERROR(major)) {
        res->rc = KRB_ERROR;
        set_reason(res, "service-principal not usable", major, minor);
        return GSS_C_NO_CREDENTIAL;
    }
    gss_key_value_element_desc kv = {"keytab", req->keytab};
    gss_key_value_set_desc store = {1, &kv};
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    gss_OID_set_desc mechs = {1, (gss_OID)gss_mech_krb5};
    major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
                                  &cred, NULL, NULL);
    gss_release_name(&minor, &name);
    if (GSS_ERROR(major)) {
        res->rc = KRB_ERROR;
        char mt[128];
        minor_text(minor, mt, sizeof mt);
        snprintf(res->reason, sizeof res->reason, "no key for %.60s in keytab %.48s (%.60s)",
                 req->principal, req->keytab, mt);
        return GSS_C_NO_CREDENTIAL;
    }
    return cred;
}

static void get_pac(gss_name_t src, struct krb_accept_res *res)
{
    OM_uint32 major, minor;
    int authenticated = 0, complete = 0, more = -1;
    gss_buffer_desc attr = {sizeof "urn:mspac:" - 1, (void *)"urn:mspac:"};
    gss_buffer_desc val = GSS_C_EMPTY_BUFFER, disp = GSS_C_EMPTY_BUFFER;
    major =
        gss_get_name_attribute(&minor, src, &attr, &authenticated, &complete, &val, &disp, &more);
    /* only a PAC whose signatures MIT verified with the service key */
    if (!GSS_ERROR(major) && authenticated && val.length && val.length <= KRB_PAC_MAX) {
        res->pac = malloc(val.length);
        if (res->pac) {
            memcpy(res->pac, val.value, val.length);
            res->pac_len = val.length;
        }
    }
    gss_release_buffer(&minor, &val);
    gss_release_buffer(&minor, &disp);
}

void krb_accept(const struct krb_accept_req *req, struct krb_accept_res *res)
{
    memset(res, 0, sizeof *res);
    OM_uint32 major, minor, flags = 0;
    gss_cred_id_t cred = acceptor_cred(req, res);
    if (cred == GSS_C_NO_CREDENTIAL)
        return;
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    gss_name_t src = GSS_C_NO_NAME;
    gss_OID mech = GSS_C_NO_OID;
    gss_buffer_desc in = {req->token_len, (void *)req->token}, out = GSS_C_EMPTY_BUFFER;
    struct gss_channel_bindings_struct cb;
    memset(&cb, 0, sizeof cb); /* addresses: type 0 (unspecified), empty, as Windows sends */
    cb.application_data.length = req->cb_len;
    cb.application_data.value = (void *)req->cb;
    major = gss_accept_sec_context(&minor, &ctx, cred, &in,
                                   req->cb_len ? &cb : GSS_C_NO_CHANNEL_BINDINGS, &src, &mech, &out,
                                   &flags, NULL, NULL);
    if (src != GSS_C_NO_NAME) {
        gss_buffer_desc dn = GSS_C_EMPTY_BUFFER;
        if (!GSS_ERROR(gss_display_name(&minor, src, &dn, NULL)) && dn.length)
            snprintf(res->client, sizeof res->client, "%.*s",
                     (int)(dn.length < KRB_NAME_MAX ? dn.length : KRB_NAME_MAX - 1),
                     (char *)dn.value);
        OM_uint32 m2;
        gss_release_buffer(&m2, &dn);
    }
    if (major == GSS_S_BAD_BINDINGS) {
        res->rc = KRB_BAD_BINDINGS;
        str_copy(res->reason, "channel bindings do not match the gateway's certificate",
                 sizeof res->reason);
    } else if (major == GSS_S_CONTINUE_NEEDED) {
        /* a DCE-style or user-to-user exchange: more than the one leg HTTP allows here */
        res->rc = KRB_DENIED;
        str_copy(res->reason, "Kerberos exchange needs more than one round trip",
                 sizeof res->reason);
    } else if (GSS_ERROR(major)) {
        res->rc = KRB_DENIED;
        set_reason(res, "", major, minor);
    } else if (req->cb_required && !(flags & GSS_C_CHANNEL_BOUND_FLAG)) {
        res->rc = KRB_BAD_BINDINGS;
        str_copy(res->reason,
                 "channel binding required (channel-binding = required) and the client sent none",
                 sizeof res->reason);
    } else if (out.length > sizeof res->reply) {
        res->rc = KRB_ERROR;
        str_copy(res->reason, "AP-REP too large", sizeof res->reason);
    } else {
        res->rc = KRB_OK;
        res->channel_bound = (flags & GSS_C_CHANNEL_BOUND_FLAG) != 0;
        res->mutual = (flags & GSS_C_MUTUAL_FLAG) != 0;
        if (out.length) /* no AP-REP when the initiator did not ask for mutual authentication */
            memcpy(res->reply, out.value, out.length);
        res->reply_len = out.length;
    }
    /* the mechListMIC: the initiator's must verify; ours over the same MechTypeList */
    if (res->rc == KRB_OK && req->mech_list_len) {
        gss_buffer_desc ml = {req->mech_list_len, (void *)req->mech_list};
        if (req->peer_mic_len) {
            gss_buffer_desc pm = {req->peer_mic_len, (void *)req->peer_mic};
            major = gss_verify_mic(&minor, ctx, &ml, &pm, NULL);
            if (GSS_ERROR(major)) {
                res->rc = KRB_DENIED;
                set_reason(res, "SPNEGO mechListMIC does not verify", major, minor);
            }
        }
        if (res->rc == KRB_OK && (req->peer_mic_len || req->want_mic)) {
            gss_buffer_desc mic = GSS_C_EMPTY_BUFFER;
            major = gss_get_mic(&minor, ctx, GSS_C_QOP_DEFAULT, &ml, &mic);
            if (GSS_ERROR(major) || mic.length > sizeof res->mic) {
                res->rc = KRB_ERROR;
                set_reason(res, "cannot compute the mechListMIC", major, minor);
            } else {
                memcpy(res->mic, mic.value, mic.length);
                res->mic_len = mic.length;
            }
            OM_uint32 m2;
            gss_release_buffer(&m2, &mic);
        }
    }
    if (res->rc == KRB_OK && req->want_pac && src != GSS_C_NO_NAME)
        get_pac(src, res);
    if (res->rc != KRB_OK) {
        res->reply_len = 0;
        res->mic_len = 0;
    }
    OM_uint32 m2;
    gss_release_buffer(&m2, &out);
    if (src != GSS_C_NO_NAME)
        gss_release_name(&m2, &src);
    if (ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&m2, &ctx, GSS_C_NO_BUFFER);
    gss_release_cred(&m2, &cred);
}

void krb_accept_res_clear(struct krb_accept_res *res)
{
    if (res->pac) {
        OPENSSL_cleanse(res->pac, res->pac_len);
        free(res->pac);
    }
    res->pac = NULL;
    res->pac_len = 0;
}
