#include "mgmt/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Win32_TSGatewayConnection ---- */

static const struct cim_property conn_props[] = {
    {"ConnectionKey", CIM_STRING, true,
     "Connection identifier \"TunnelId:ChannelId\", e.g. \"5:1\"."},
    {"TunnelId", CIM_UINT64, false, "Tunnel number, counted from 1 since the gateway started."},
    {"ChannelId", CIM_UINT32, false, "Channel number inside the tunnel."},
    {"UserName", CIM_STRING, false, "Authenticated account, DOMAIN\\user as stored."},
    {"FullUserName", CIM_STRING, false, "Display name of the account (empty when unknown)."},
    {"ClientAddress", CIM_STRING, false, "Client IP address as seen by the gateway."},
    {"ConnectedTime", CIM_STRING, false,
     "When the channel opened: WMI DATETIME text yyyymmddHHMMSS.mmmmmmsUUU (local time, offset "
     "in minutes)."},
    {"IdleTime", CIM_STRING, false,
     "Time since the last payload byte in either direction: WMI interval "
     "ddddddddHHMMSS.mmmmmm:000."},
    {"ConnectedResource", CIM_STRING, false, "Target host name as the client asked for it."},
    {"ProtocolName", CIM_STRING, false, "Protocol through the gateway: \"RDP\"."},
    {"ConnectedPort", CIM_UINT32, false, "Target TCP port."},
    {"NumberOfKilobytesSent", CIM_UINT64, false,
     "Kilobytes sent by the gateway to the client: payload bytes / 1024, rounded down."},
    {"NumberOfKilobytesReceived", CIM_UINT64, false,
     "Kilobytes received by the gateway from the client: payload bytes / 1024, rounded down."},
    {"ConnectionDuration", CIM_STRING, false,
     "Time since ConnectedTime: WMI interval ddddddddHHMMSS.mmmmmm:000."},
    {"TransportProtocol", CIM_UINT32, false, "0 = RPC over HTTP, 1 = HTTP, 2 = UDP."},
};

static const struct cim_param p_username[] = {{"UserName", CIM_STRING, false}};
static const struct cim_param p_protocol[] = {{"ProtocolName", CIM_STRING, false}};

static const struct cim_method conn_methods[] = {
    {"Disconnect", CIM_UINT32, NULL, 0, false, "Ends this connection."},
    {"DisconnectUser", CIM_UINT32, p_username, 1, true,
     "Ends every connection of UserName (DOMAIN\\user, case-insensitive)."},
    {"DisconnectProtocol", CIM_UINT32, p_protocol, 1, true,
     "Ends every connection using ProtocolName (\"RDP\"; \"TS\" is accepted too)."},
};

static const struct cim_class cls_connection = {
    "Win32_TSGatewayConnection",
    "A live client connection through the RD Gateway.",
    conn_props,
    N(conn_props),
    conn_methods,
    N(conn_methods),
};

/* ---- Win32_TSGatewayConnectionAuthorizationPolicy (read-only here) ---- */

static const struct cim_property cap_props[] = {
    {"Name", CIM_STRING, true, "Policy name."},
    {"Order", CIM_UINT32, false, "Evaluation position, 1 first; the first match wins."},
    {"SmartcardAllowed", CIM_BOOLEAN, false, "Smart-card authentication accepted (never)."},
    {"PasswordAllowed", CIM_BOOLEAN, false, "Password (NTLM) authentication accepted."},
    {"SecureIdAllowed", CIM_BOOLEAN, false, "Reserved."},
    {"CookieAuthenticationAllowed", CIM_BOOLEAN, false, "PAA cookie authentication accepted."},
    {"Enabled", CIM_BOOLEAN, false, "Policy takes part in evaluation."},
    {"IdleTimeout", CIM_UINT32, false, "Idle timeout in minutes, 0 = none."},
    {"SessionTimeout", CIM_UINT32, false, "Session timeout in minutes, 0 = none."},
    {"SessionTimeoutAction", CIM_UINT32, false, "0 = disconnect, 1 = reauthorize."},
    {"DeviceRedirectionType", CIM_UINT32, false, "0 = all, 1 = none, 2 = all except flagged."},
    {"DiskDrivesDisabled", CIM_BOOLEAN, false, "Drive redirection blocked (type 2)."},
    {"PrintersDisabled", CIM_BOOLEAN, false, "Printer redirection blocked (type 2)."},
    {"SerialPortsDisabled", CIM_BOOLEAN, false, "Serial port redirection blocked (type 2)."},
    {"ClipboardDisabled", CIM_BOOLEAN, false, "Clipboard redirection blocked (type 2)."},
    {"PlugAndPlayDevicesDisabled", CIM_BOOLEAN, false, "PnP redirection blocked (type 2)."},
    {"UserGroupNames", CIM_STRING, false, "';'-separated user groups; \"*\" = everyone."},
    {"ComputerGroupNames", CIM_STRING, false, "';'-separated computer groups (unused)."},
    {"HasNapAttributes", CIM_BOOLEAN, false, "NAP attributes in use (never)."},
    {"AllowOnlySDRServers", CIM_BOOLEAN, false, "Only secure-device-redirection hosts."},
};

static const struct cim_class cls_cap = {
    "Win32_TSGatewayConnectionAuthorizationPolicy",
    "RD CAP: who may connect through the gateway (from [cap:NAME] sections).",
    cap_props,
    N(cap_props),
    NULL,
    0,
};

/* ---- Win32_TSGatewayResourceAuthorizationPolicy ---- */

static const struct cim_property rap_props[] = {
    {"Name", CIM_STRING, true, "Policy name."},
    {"Description", CIM_STRING, false, "Free text."},
    {"Enabled", CIM_BOOLEAN, false, "Policy is active."},
    {"ResourceGroupType", CIM_STRING, false, "\"RG\" = gateway-managed resource group."},
    {"ResourceGroupName", CIM_STRING, false, "Name of the resource group."},
    {"UserGroupNames", CIM_STRING, false, "';'-separated user groups; \"*\" = everyone."},
    {"ProtocolNames", CIM_STRING, false, "';'-separated protocols (\"RDP\")."},
    {"PortNumbers", CIM_STRING, false, "';'-separated target ports; \"*\" = any."},
};

static const struct cim_class cls_rap = {
    "Win32_TSGatewayResourceAuthorizationPolicy",
    "RD RAP: which users may reach which resources and ports (from [rap:NAME] sections).",
    rap_props,
    N(rap_props),
    NULL,
    0,
};

/* ---- Win32_TSGatewayResourceGroup ---- */

static const struct cim_property rg_props[] = {
    {"Name", CIM_STRING, true, "Group name."},
    {"Description", CIM_STRING, false, "Free text."},
    {"AssociatedRAPs", CIM_STRING, false, "';'-separated RAPs that use this group."},
    {"Resources", CIM_STRING, false, "';'-separated host names, addresses and CIDR ranges."},
};

static const struct cim_class cls_rg = {
    "Win32_TSGatewayResourceGroup",
    "A named list of resources used by RAPs (from [resource-group:NAME] sections).",
    rg_props,
    N(rg_props),
    NULL,
    0,
};

/* ---- Win32_TSGatewayServerSettings ---- */

static const struct cim_property ss_props[] = {
    {"MaxConnections", CIM_UINT32, true, "Maximum simultaneous connections (key, as on Windows)."},
    {"UnlimitedConnections", CIM_BOOLEAN, false, "No connection limit."},
    {"MaximumAllowedConnectionsBySku", CIM_UINT32, false, "Edition ceiling (none: 4294967295)."},
    {"SkuName", CIM_STRING, false, "Edition name."},
    {"MaxProtocols", CIM_UINT32, false, "Number of supported protocols."},
    {"MaxLogEvents", CIM_UINT32, false, "Number of audit switches."},
    {"adminMessageText", CIM_STRING, false, "Administrative message."},
    {"adminMessageStartTime", CIM_STRING, false, "When the administrative message starts."},
    {"adminMessageEndTime", CIM_STRING, false, "When the administrative message ends."},
    {"consentMessageText", CIM_STRING, false, "Consent message."},
    {"OnlyConsentCapableClients", CIM_BOOLEAN, false, "Only consent-capable clients."},
    {"CentralCAPEnabled", CIM_BOOLEAN, false, "Central CAP store (never)."},
    {"RequestSOH", CIM_BOOLEAN, false, "NAP statement of health (never)."},
    {"SslBridging", CIM_UINT32, false, "0 = no TLS bridging."},
    {"IsConfigured", CIM_BOOLEAN, false, "Gateway configured."},
    {"EnforceChannelBinding", CIM_BOOLEAN, false,
     "Channel binding required: NTLM's ([auth] require-channel-binding) and, with a keytab, "
     "Kerberos' ([auth] channel-binding = required)."},
};

static const struct cim_class cls_ss = {
    "Win32_TSGatewayServerSettings",
    "Gateway-wide settings (from [gateway], [auth], [settings]).",
    ss_props,
    N(ss_props),
    NULL,
    0,
};

/* ---- Win32_TSGatewayLoadBalancer ---- */

static const struct cim_property lb_props[] = {
    {"Servers", CIM_STRING, true,
     "';'-separated names of the farm's live nodes ([farm] node-name), this node alone without a "
     "farm."},
};

static const struct cim_class cls_lb = {
    "Win32_TSGatewayLoadBalancer",
    "The RD Gateway farm (from [farm]; live nodes as registered in Redis).",
    lb_props,
    N(lb_props),
    NULL,
    0,
};

const struct cim_class *const cim_classes[] = {&cls_connection, &cls_cap, &cls_rap,
                                               &cls_rg,         &cls_ss,  &cls_lb};
const size_t cim_nclasses = N(cim_classes);

const struct cim_class *cim_find_class(const char *name)
{
    for (size_t i = 0; i < cim_nclasses; i++)
        if (!strcasecmp(cim_classes[i]->name, name))
            return cim_classes[i];
    return NULL;
}

int cim_find_property(const struct cim_class *c, const char *name)
{
    for (size_t i = 0; i < c->nprops; i++)
        if (!strcasecmp(c->props[i].name, name))
            return (int)i;
    return -1;
}

const struct cim_method *cim_find_method(const struct cim_class *c, const char *name)
{
    for (size_t i = 0; i < c->nmethods; i++)
        if (!strcasecmp(c->methods[i].name, name))
            return &c->methods[i];
    return NULL;
}

const char *cim_type_name(int type)
{
    switch (type) {
    case CIM_STRING:
        return "string";
    case CIM_BOOLEAN:
        return "boolean";
    case CIM_UINT8:
        return "uint8";
    case CIM_UINT16:
        return "uint16";
    case CIM_UINT32:
        return "uint32";
    case CIM_UINT64:
        return "uint64";
    default:
        return "string";
    }
}

int cim_key_index(const struct cim_class *c)
{
    for (size_t i = 0; i < c->nprops; i++)
        if (c->props[i].key)
            return (int)i;
    return 0;
}

int cim_set(struct cim_instance *in, int i, const char *text)
{
    free(in->values[i]);
    in->values[i] = NULL;
    if (!text)
        return 0;
    in->values[i] = strdup(text);
    return in->values[i] ? 0 : -ENOMEM;
}

int cim_setf(struct cim_instance *in, int i, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return cim_set(in, i, tmp);
}

void cim_instance_clear(struct cim_instance *in)
{
    for (size_t i = 0; i < CIM_MAX_PROPS; i++) {
        free(in->values[i]);
        in->values[i] = NULL;
    }
}

void cim_format_datetime(uint64_t unix_us, char out[26])
{
    time_t s = (time_t)(unix_us / 1000000u);
    struct tm tm;
    localtime_r(&s, &tm);
    long off = tm.tm_gmtoff / 60;
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d%02d%02d%02d%02d%02d.%06u%c%03ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(unix_us % 1000000u), off < 0 ? '-' : '+', off < 0 ? -off : off);
    memcpy(out, tmp, 25);
    out[25] = 0;
}

void cim_format_interval(uint64_t us, char out[26])
{
    uint64_t s = us / 1000000u;
    unsigned long long days = s / 86400u;
    if (days > 99999999u)
        days = 99999999u;
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%08llu%02u%02u%02u.%06u:000", days, (unsigned)(s / 3600 % 24),
             (unsigned)(s / 60 % 60), (unsigned)(s % 60), (unsigned)(us % 1000000u));
    memcpy(out, tmp, 25);
    out[25] = 0;
}

static void mof_doc(struct buf *b, const char *indent, const char *doc)
{
    buf_printf(b, "%s[Description(\"", indent);
    for (const char *p = doc; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_put_u8(b, '\\');
        buf_put_u8(b, (uint8_t)*p);
    }
    buf_append_str(b, "\")");
}

int cim_write_mof(struct buf *b)
{
    buf_printf(b,
               "// TSGateway.mof as served by tsgw: namespace %s\n"
               "#pragma namespace(\"\\\\\\\\.\\\\root\\\\cimv2\\\\TerminalServices\")\n\n",
               CIM_NAMESPACE);
    for (size_t i = 0; i < cim_nclasses; i++) {
        const struct cim_class *c = cim_classes[i];
        mof_doc(b, "", c->doc);
        buf_printf(b, ", dynamic, provider(\"tsgwd\")]\nclass %s\n{\n", c->name);
        for (size_t k = 0; k < c->nprops; k++) {
            const struct cim_property *p = &c->props[k];
            mof_doc(b, "    ", p->doc);
            buf_printf(b, "%s, read] %s %s;\n", p->key ? ", key" : "", cim_type_name(p->type),
                       p->name);
        }
        for (size_t k = 0; k < c->nmethods; k++) {
            const struct cim_method *m = &c->methods[k];
            mof_doc(b, "    ", m->doc);
            buf_printf(b, "%s] %s %s(", m->on_class ? ", static" : "",
                       cim_type_name(m->return_type), m->name);
            for (size_t j = 0; j < m->nparams; j++)
                buf_printf(b, "%s[%s] %s %s", j ? ", " : "", m->params[j].out ? "out" : "in",
                           cim_type_name(m->params[j].type), m->params[j].name);
            buf_append_str(b, ");\n");
        }
        buf_append_str(b, "};\n\n");
    }
    return 0;
}

const char *wbem_code_name(uint32_t code)
{
    switch (code) {
    case WBEM_S_NO_ERROR:
        return "WBEM_S_NO_ERROR";
    case WBEM_E_FAILED:
        return "WBEM_E_FAILED";
    case WBEM_E_NOT_FOUND:
        return "WBEM_E_NOT_FOUND";
    case WBEM_E_ACCESS_DENIED:
        return "WBEM_E_ACCESS_DENIED";
    case WBEM_E_INVALID_PARAMETER:
        return "WBEM_E_INVALID_PARAMETER";
    case WBEM_E_NOT_SUPPORTED:
        return "WBEM_E_NOT_SUPPORTED";
    case WBEM_E_INVALID_CLASS:
        return "WBEM_E_INVALID_CLASS";
    case WBEM_E_TRANSPORT_FAILURE:
        return "WBEM_E_TRANSPORT_FAILURE";
    case WBEM_E_INVALID_METHOD:
        return "WBEM_E_INVALID_METHOD";
    case WBEM_E_INVALID_METHOD_PARAMETERS:
        return "WBEM_E_INVALID_METHOD_PARAMETERS";
    case WBEM_E_INVALID_OBJECT_PATH:
        return "WBEM_E_INVALID_OBJECT_PATH";
    default:
        return NULL;
    }
}
