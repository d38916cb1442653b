/* CIM-XML request handler (DSP0200 operations, DSP0201 encoding) for the RD Gateway schema.
 *
 * The request body is parsed into a libxml2 tree with every DTD feature refused: a document
 * type declaration, an entity declaration or a reference to a non-predefined entity stops the
 * parser, the network is off, nothing is substituted, and element depth and element/attribute
 * count are capped while parsing. The answer is written by hand with explicit end tags only
 * (sblim-wbemcli 1.6.3 cannot read self-closing PROPERTY/METHOD/PARAMETER/IRETURNVALUE).
 * See docs/cim.md. */
#include "mgmt/cimxml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#define MAX_DEPTH 32    /* CIM-XML requests nest about 8 deep */
#define MAX_NODES 20000 /* elements + attributes in one request */
#define MAX_ID_LEN 256  /* MESSAGE ID */
#define MAX_NS_LEN 256  /* joined LOCALNAMESPACEPATH */
#define MAX_METHOD_ARGS 16

/* Internal result codes besides 0 (success) and positive CIM status codes. */
#define R_NOMEM (-ENOMEM)
#define R_BADREQ (-EBADMSG) /* HTTP 400, CIMError: request-not-valid */

const char *cimxml_error_header_text(int code)
{
    switch (code) {
    case CIMXML_HDR_REQUEST_NOT_VALID:
        return "request-not-valid";
    case CIMXML_HDR_UNSUPPORTED_OPERATION:
        return "unsupported-operation";
    case CIMXML_HDR_HEADER_MISMATCH:
        return "header-mismatch";
    case CIMXML_HDR_MULTIPLE_REQUESTS:
        return "multiple-requests-unsupported";
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing with every DTD feature refused                                                     */
/* ------------------------------------------------------------------------------------------ */

struct pstate {
    unsigned nodes;
    unsigned depth;
    bool bad;
};

static void refuse(void *ud)
{
    xmlParserCtxtPtr ctxt = ud;
    struct pstate *ps = ctxt->_private;
    if (ps)
        ps->bad = true;
    ctxt->wellFormed = 0;
    xmlStopParser(ctxt);
}

static void sax_subset(void *ud, const xmlChar *name, const xmlChar *eid, const xmlChar *sid)
{
    refuse(ud);
}

static void sax_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *pid,
                            const xmlChar *sid, xmlChar *content)
{
    refuse(ud);
}

static void sax_unparsed_entity_decl(void *ud, const xmlChar *name, const xmlChar *pid,
                                     const xmlChar *sid, const xmlChar *notation)
{
    refuse(ud);
}

static void sax_notation_decl(void *ud, const xmlChar *name, const xmlChar *pid, const xmlChar *sid)
{
    refuse(ud);
}

static void sax_attribute_decl(void *ud, const xmlChar *elem, const xmlChar *fullname, int type,
                               int def, const xmlChar *defaultValue, xmlEnumerationPtr tree)
{
    xmlFreeEnumeration(tree);
    refuse(ud);
}

static void sax_element_decl(void *ud, const xmlChar *name, int type, xmlElementContentPtr content)
{
    refuse(ud);
}

/* Predefined entities (&amp; ...) are resolved by the parser before it asks; anything else that
 * reaches here is a reference to an entity that no allowed document can declare. */
static xmlEntityPtr sax_get_entity(void *ud, const xmlChar *name)
{
    refuse(ud);
    return NULL;
}

static xmlParserInputPtr sax_resolve_entity(void *ud, const xmlChar *pid, const xmlChar *sid)
{
    refuse(ud);
    return NULL;
}

static void sax_reference(void *ud, const xmlChar *name)
{
    refuse(ud);
}

static void sax_start_element(void *ud, const xmlChar *localname, const xmlChar *prefix,
                              const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                              int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ud;
    struct pstate *ps = ctxt->_private;
    ps->nodes += 1u + (unsigned)(nb_attributes > 0 ? nb_attributes : 0) +
                 (unsigned)(nb_namespaces > 0 ? nb_namespaces : 0);
    if (++ps->depth > MAX_DEPTH || ps->nodes > MAX_NODES || nb_defaulted != 0) {
        refuse(ud);
        return;
    }
    xmlSAX2StartElementNs(ud, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
}

static void sax_end_element(void *ud, const xmlChar *localname, const xmlChar *prefix,
                            const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ud;
    struct pstate *ps = ctxt->_private;
    if (ps->depth)
        ps->depth--;
    xmlSAX2EndElementNs(ud, localname, prefix, uri);
}

static void sax_silent(void *ud, xmlErrorPtr err) {}

static bool has_bytes(const uint8_t *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle)) != NULL;
}

/* Returns the document, NULL for a body that is not an acceptable XML document (with *nomem
 * set when memory ran out instead). */
static xmlDocPtr parse_safe(const uint8_t *body, size_t len, bool *nomem)
{
    *nomem = false;
    if (!body || len == 0 || len > INT_MAX)
        return NULL;
    /* Cheap first line of defence; the SAX hooks below are the real one (they also see
     * declarations in other encodings). */
    if (has_bytes(body, len, "<!DOCTYPE") || has_bytes(body, len, "<!ENTITY"))
        return NULL;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt((const char *)body, (int)len);
    if (!ctxt) {
        *nomem = true;
        return NULL;
    }
    struct pstate ps = {0};
    ctxt->_private = &ps;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                XML_PARSE_NOCDATA);
    xmlSAXHandler *sax = ctxt->sax;
    sax->internalSubset = sax_subset;
    sax->externalSubset = sax_subset;
    sax->entityDecl = sax_entity_decl;
    sax->unparsedEntityDecl = sax_unparsed_entity_decl;
    sax->notationDecl = sax_notation_decl;
    sax->attributeDecl = sax_attribute_decl;
    sax->elementDecl = sax_element_decl;
    sax->getEntity = sax_get_entity;
    sax->getParameterEntity = sax_get_entity;
    sax->resolveEntity = sax_resolve_entity;
    sax->reference = sax_reference;
    sax->startElementNs = sax_start_element;
    sax->endElementNs = sax_end_element;
    sax->serror = sax_silent;
    sax->warning = NULL;
    sax->error = NULL;
    /* no DTD loading, no default attributes, no entity substitution, no validation */
    ctxt->loadsubset = 0;
    ctxt->replaceEntities = 0;
    ctxt->validate = 0;

    /* Encoding errors are reported without the context, through the process-wide handler:
     * keep them quiet too, and put the caller's handler back afterwards. */
    xmlStructuredErrorFunc old_handler = xmlStructuredError;
    void *old_handler_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(NULL, sax_silent);
    xmlParseDocument(ctxt);
    xmlSetStructuredErrorFunc(old_handler_ctx, old_handler);
    xmlDocPtr doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    bool ok = doc && ctxt->wellFormed && !ps.bad && !doc->intSubset && !doc->extSubset;
    if (ctxt->errNo == XML_ERR_NO_MEMORY)
        *nomem = true;
    xmlFreeParserCtxt(ctxt);
    if (!ok) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* ------------------------------------------------------------------------------------------ */
/* Tree access                                                                                */
/* ------------------------------------------------------------------------------------------ */

struct ctx {
    const struct cimxml_request *req;
    const struct cimxml_backend *be;
    char **strs; /* strings allocated while reading the request, freed at the end */
    size_t nstrs, capstrs;
    char desc[320]; /* DESCRIPTION of a CIM error */
};

static char *keep(struct ctx *c, char *s)
{
    if (!s)
        return NULL;
    if (c->nstrs == c->capstrs) {
        size_t n = c->capstrs ? c->capstrs * 2 : 16;
        char **v = realloc(c->strs, n * sizeof *v);
        if (!v) {
            free(s);
            return NULL;
        }
        c->strs = v;
        c->capstrs = n;
    }
    c->strs[c->nstrs++] = s;
    return s;
}

static void ctx_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nstrs; i++)
        free(c->strs[i]);
    free(c->strs);
}

static int errf(struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errf(struct ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->desc, sizeof c->desc, fmt, ap);
    va_end(ap);
    return code;
}

static bool is_elem(const xmlNode *n)
{
    return n && n->type == XML_ELEMENT_NODE;
}

static bool is(const xmlNode *n, const char *name)
{
    return is_elem(n) && !strcmp((const char *)n->name, name);
}

static xmlNode *next_elem(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static xmlNode *first_child(xmlNode *n)
{
    return n ? next_elem(n->children) : NULL;
}

static xmlNode *next_sibling(xmlNode *n)
{
    return n ? next_elem(n->next) : NULL;
}

/* Attribute text, NULL when absent. */
static const char *attr(const xmlNode *n, const char *name)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (a->ns || strcmp((const char *)a->name, name))
            continue;
        const xmlNode *t = a->children;
        if (!t)
            return "";
        if (t->type == XML_TEXT_NODE && !t->next)
            return t->content ? (const char *)t->content : "";
        return NULL; /* cannot happen without a DTD */
    }
    return NULL;
}

/* Text content of an element that may hold only character data (comments and processing
 * instructions are skipped). *ok = false when it has element children or anything else. */
static const char *text_of(struct ctx *c, xmlNode *n, bool *ok, bool *nomem)
{
    size_t total = 0, parts = 0;
    const char *only = "";
    for (xmlNode *k = n->children; k; k = k->next) {
        if (k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) {
            only = k->content ? (const char *)k->content : "";
            total += strlen(only);
            parts++;
        } else if (k->type != XML_COMMENT_NODE && k->type != XML_PI_NODE) {
            *ok = false;
            return NULL;
        }
    }
    *ok = true;
    if (parts <= 1)
        return only;
    char *s = malloc(total + 1);
    if (!s) {
        *nomem = true;
        return NULL;
    }
    size_t at = 0;
    for (xmlNode *k = n->children; k; k = k->next) {
        if ((k->type == XML_TEXT_NODE || k->type == XML_CDATA_SECTION_NODE) && k->content) {
            size_t l = strlen((const char *)k->content);
            memcpy(s + at, k->content, l);
            at += l;
        }
    }
    s[at] = 0;
    if (!keep(c, s)) {
        *nomem = true;
        return NULL;
    }
    return s;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Copy of s without surrounding XML white space, kept in c. */
static const char *trimmed(struct ctx *c, const char *s, bool *nomem)
{
    size_t n = strlen(s);
    size_t a = 0;
    while (a < n && is_space(s[a]))
        a++;
    while (n > a && is_space(s[n - 1]))
        n--;
    if (a == 0 && s[n] == 0)
        return s;
    char *t = strndup(s + a, n - a);
    if (!t || !keep(c, t)) {
        *nomem = true;
        return NULL;
    }
    return t;
}

/* TRUE/FALSE in any case, with surrounding white space. 1, 0 or -1. */
static int parse_bool(const char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 4 && !strncasecmp(s, "TRUE", 4))
        return 1;
    if (n == 5 && !strncasecmp(s, "FALSE", 5))
        return 0;
    return -1;
}

/* Does the (trimmed) text fit the CIM type? Decimal integers with an optional '+'. */
static bool valid_for_type(int type, const char *s)
{
    uint64_t max;
    switch (type) {
    case CIM_STRING:
        return true;
    case CIM_BOOLEAN:
        return parse_bool(s) >= 0;
    case CIM_UINT8:
        max = UINT8_MAX;
        break;
    case CIM_UINT16:
        max = UINT16_MAX;
        break;
    case CIM_UINT32:
        max = UINT32_MAX;
        break;
    case CIM_UINT64:
        max = UINT64_MAX;
        break;
    default:
        return false;
    }
    if (*s == '+')
        s++;
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

struct w {
    struct buf *b;
    bool err;
};

static void ws(struct w *w, const char *s)
{
    if (!w->err && buf_append_str(w->b, s) < 0)
        w->err = true;
}

static void wn(struct w *w, const char *s, size_t n)
{
    if (!w->err && n && buf_append(w->b, s, n) < 0)
        w->err = true;
}

static void wu64(struct w *w, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    ws(w, tmp);
}

/* Length of the valid UTF-8 sequence at p for a character XML 1.0 allows, 0 if none. */
static size_t xml_char_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    if (c >= 0xC2 && c <= 0xDF)
        return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned cp = ((c & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        unsigned cp =
            ((c & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
        if (cp < 0x10000 || cp > 0x10FFFF)
            return 0;
        return 4;
    }
    return 0;
}

/* Escaped text for element content and attribute values alike. Characters XML cannot carry
 * (control characters, broken UTF-8) become '?'. */
static void wesc(struct w *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p;
    while (*p) {
        const char *rep = NULL;
        size_t len = 1;
        switch (*p) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            len = xml_char_len(p);
            if (!len) {
                rep = "?";
                len = 1;
            }
        }
        if (rep) {
            wn(w, (const char *)run, (size_t)(p - run));
            ws(w, rep);
            p += len;
            run = p;
        } else {
            p += len;
        }
    }
    wn(w, (const char *)run, (size_t)(p - run));
}

static void w_value(struct w *w, const char *v)
{
    ws(w, "<VALUE>");
    wesc(w, v);
    ws(w, "</VALUE>");
}

static void w_qualifier_bool(struct w *w, const char *name)
{
    ws(w, "<QUALIFIER NAME=\"");
    ws(w, name);
    ws(w, "\" TYPE=\"boolean\"><VALUE>TRUE</VALUE></QUALIFIER>");
}

static void w_qualifier_str(struct w *w, const char *name, const char *v)
{
    ws(w, "<QUALIFIER NAME=\"");
    ws(w, name);
    ws(w, "\" TYPE=\"string\">");
    w_value(w, v);
    ws(w, "</QUALIFIER>");
}

static const char *keyvalue_type(int type)
{
    switch (type) {
    case CIM_STRING:
        return "string";
    case CIM_BOOLEAN:
        return "boolean";
    default:
        return "numeric";
    }
}

static size_t nprops(const struct cim_class *cls)
{
    return cls->nprops < CIM_MAX_PROPS ? cls->nprops : CIM_MAX_PROPS;
}

static void w_instancename(struct w *w, const struct cim_class *cls, const struct cim_instance *in)
{
    ws(w, "<INSTANCENAME CLASSNAME=\"");
    wesc(w, cls->name);
    ws(w, "\">");
    for (size_t i = 0; i < nprops(cls); i++) {
        if (!cls->props[i].key)
            continue;
        ws(w, "<KEYBINDING NAME=\"");
        wesc(w, cls->props[i].name);
        ws(w, "\"><KEYVALUE VALUETYPE=\"");
        ws(w, keyvalue_type(cls->props[i].type));
        ws(w, "\">");
        wesc(w, in->values[i]);
        ws(w, "</KEYVALUE></KEYBINDING>");
    }
    ws(w, "</INSTANCENAME>");
}

/* sel == NULL: every property. */
static void w_instance(struct w *w, const struct cim_class *cls, const struct cim_instance *in,
                       const bool *sel)
{
    ws(w, "<INSTANCE CLASSNAME=\"");
    wesc(w, cls->name);
    ws(w, "\">\n");
    for (size_t i = 0; i < nprops(cls); i++) {
        if (sel && !sel[i])
            continue;
        ws(w, "<PROPERTY NAME=\"");
        wesc(w, cls->props[i].name);
        ws(w, "\" TYPE=\"");
        ws(w, cim_type_name(cls->props[i].type));
        ws(w, "\">");
        if (in->values[i])
            w_value(w, in->values[i]);
        ws(w, "</PROPERTY>\n");
    }
    ws(w, "</INSTANCE>");
}

static void w_class(struct w *w, const struct cim_class *cls, bool quals, const bool *sel)
{
    ws(w, "<CLASS NAME=\"");
    wesc(w, cls->name);
    ws(w, "\">\n");
    if (quals && cls->doc)
        w_qualifier_str(w, "Description", cls->doc);
    for (size_t i = 0; i < nprops(cls); i++) {
        const struct cim_property *p = &cls->props[i];
        if (sel && !sel[i])
            continue;
        ws(w, "<PROPERTY NAME=\"");
        wesc(w, p->name);
        ws(w, "\" TYPE=\"");
        ws(w, cim_type_name(p->type));
        ws(w, "\">");
        if (quals && p->key)
            w_qualifier_bool(w, "key");
        if (quals && p->doc)
            w_qualifier_str(w, "Description", p->doc);
        ws(w, "</PROPERTY>\n");
    }
    for (size_t i = 0; i < cls->nmethods; i++) {
        const struct cim_method *m = &cls->methods[i];
        ws(w, "<METHOD NAME=\"");
        wesc(w, m->name);
        ws(w, "\" TYPE=\"");
        ws(w, cim_type_name(m->return_type));
        ws(w, "\">");
        if (quals && m->doc)
            w_qualifier_str(w, "Description", m->doc);
        for (size_t k = 0; k < m->nparams; k++) {
            ws(w, "<PARAMETER NAME=\"");
            wesc(w, m->params[k].name);
            ws(w, "\" TYPE=\"");
            ws(w, cim_type_name(m->params[k].type));
            ws(w, "\">");
            if (quals)
                w_qualifier_bool(w, m->params[k].out ? "Out" : "In");
            ws(w, "</PARAMETER>");
        }
        ws(w, "</METHOD>\n");
    }
    ws(w, "</CLASS>");
}

/* ------------------------------------------------------------------------------------------ */
/* Request pieces                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* 0 when the LOCALNAMESPACEPATH names our namespace, CIM_ERR_INVALID_NAMESPACE, R_BADREQ. */
static int check_namespace(struct ctx *c, xmlNode *lnp)
{
    char ns[MAX_NS_LEN + 1];
    size_t at = 0;
    bool fits = true;
    for (xmlNode *e = first_child(lnp); e; e = next_sibling(e)) {
        const char *name = is(e, "NAMESPACE") ? attr(e, "NAME") : NULL;
        if (!name)
            return R_BADREQ;
        size_t l = strlen(name);
        if (at + (at ? 1 : 0) + l > MAX_NS_LEN) {
            fits = false;
            continue;
        }
        if (at)
            ns[at++] = '/';
        memcpy(ns + at, name, l);
        at += l;
    }
    ns[at] = 0;
    if (!fits || strcasecmp(ns, CIM_NAMESPACE))
        return errf(c, CIM_ERR_INVALID_NAMESPACE, "Namespace %.200s does not exist (use %s)",
                    fits ? ns : "(too long)", CIM_NAMESPACE);
    return 0;
}

static int find_class(struct ctx *c, const char *name, const struct cim_class **out)
{
    *out = name ? cim_find_class(name) : NULL;
    if (!*out)
        return errf(c, CIM_ERR_INVALID_CLASS, "Class %.200s does not exist in %s",
                    name ? name : "(none)", CIM_NAMESPACE);
    return 0;
}

/* INSTANCENAME: class and the key value. 0, CIM error, R_NOMEM. */
static int parse_instancename(struct ctx *c, xmlNode *in, const struct cim_class **cls,
                              const char **key)
{
    int r = find_class(c, attr(in, "CLASSNAME"), cls);
    if (r)
        return r;
    int ki = cim_key_index(*cls);
    const struct cim_property *kp = &(*cls)->props[ki];
    const char *val = NULL;
    bool nomem = false, ok = true;
    for (xmlNode *e = first_child(in); e; e = next_sibling(e)) {
        xmlNode *kv = NULL;
        if (is(e, "KEYBINDING")) {
            const char *name = attr(e, "NAME");
            if (!name || strcasecmp(name, kp->name))
                return errf(c, CIM_ERR_INVALID_PARAMETER, "%.100s is not the key of %s (%s is)",
                            name ? name : "(none)", (*cls)->name, kp->name);
            kv = first_child(e);
            if (!is(kv, "KEYVALUE") || next_sibling(kv))
                return errf(c, CIM_ERR_INVALID_PARAMETER, "Key %s needs one KEYVALUE", kp->name);
        } else if (is(e, "KEYVALUE")) {
            kv = e;
        } else {
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Unsupported key form <%.60s>",
                        (const char *)e->name);
        }
        if (val)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Key %s given twice", kp->name);
        val = text_of(c, kv, &ok, &nomem);
        if (nomem)
            return R_NOMEM;
        if (!ok)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Key %s: KEYVALUE must hold text", kp->name);
    }
    if (!val)
        return errf(c, CIM_ERR_INVALID_PARAMETER, "Instance path without the key %s", kp->name);
    if (kp->type != CIM_STRING) {
        val = trimmed(c, val, &nomem);
        if (nomem)
            return R_NOMEM;
        if (!valid_for_type(kp->type, val))
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Key %s must be a %s", kp->name,
                        cim_type_name(kp->type));
    }
    *key = val;
    return 0;
}

/* ---- intrinsic parameters ---- */

enum {
    IP_CLASSNAME = 1 << 0,
    IP_INSTANCENAME = 1 << 1,
    IP_LOCALONLY = 1 << 2,
    IP_DEEP = 1 << 3,
    IP_INCQUAL = 1 << 4,
    IP_INCORIGIN = 1 << 5,
    IP_PLIST = 1 << 6,
};

static const struct {
    const char *name;
    unsigned bit;
} ip_names[] = {
    {"ClassName", IP_CLASSNAME},       {"InstanceName", IP_INSTANCENAME},
    {"LocalOnly", IP_LOCALONLY},       {"DeepInheritance", IP_DEEP},
    {"IncludeQualifiers", IP_INCQUAL}, {"IncludeClassOrigin", IP_INCORIGIN},
    {"PropertyList", IP_PLIST},
};

struct iparams {
    unsigned seen;
    const struct cim_class *cls; /* ClassName, or the class of InstanceName */
    const char *classname;       /* as given */
    xmlNode *instancename;
    int bools[7]; /* by bit index: -1 = not given / NULL */
    bool plist_given;
    bool sel[CIM_MAX_PROPS]; /* PropertyList selection (valid after resolve_plist) */
    xmlNode *plist;          /* VALUE.ARRAY */
};

static int bit_index(unsigned bit)
{
    int i = 0;
    while (bit > 1) {
        bit >>= 1;
        i++;
    }
    return i;
}

static int parse_iparam(struct ctx *c, xmlNode *ip, unsigned allowed, struct iparams *p)
{
    const char *name = attr(ip, "NAME");
    if (!name)
        return R_BADREQ;
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof ip_names / sizeof ip_names[0]; i++)
        if (!strcasecmp(name, ip_names[i].name))
            bit = ip_names[i].bit;
    if (!(bit & allowed))
        return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %.100s is not valid here", name);
    if (p->seen & bit)
        return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %.100s given twice", name);
    p->seen |= bit;
    xmlNode *v = first_child(ip);
    if (v && next_sibling(v))
        return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %.100s has several values", name);
    bool ok = true, nomem = false;
    switch (bit) {
    case IP_CLASSNAME:
        if (!is(v, "CLASSNAME") || !attr(v, "NAME"))
            return errf(c, CIM_ERR_INVALID_PARAMETER, "ClassName needs a CLASSNAME");
        p->classname = attr(v, "NAME");
        return 0;
    case IP_INSTANCENAME:
        if (!is(v, "INSTANCENAME"))
            return errf(c, CIM_ERR_INVALID_PARAMETER, "InstanceName needs an INSTANCENAME");
        p->instancename = v;
        return 0;
    case IP_PLIST:
        if (!v)
            return 0; /* NULL: every property */
        if (!is(v, "VALUE.ARRAY"))
            return errf(c, CIM_ERR_INVALID_PARAMETER, "PropertyList needs a VALUE.ARRAY");
        p->plist_given = true;
        p->plist = v;
        return 0;
    default: {
        if (!v)
            return 0; /* NULL: the default */
        const char *t = is(v, "VALUE") ? text_of(c, v, &ok, &nomem) : NULL;
        if (nomem)
            return R_NOMEM;
        int b = t && ok ? parse_bool(t) : -1;
        if (b < 0)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %.100s must be a boolean", name);
        p->bools[bit_index(bit)] = b;
        return 0;
    }
    }
}

static bool ip_bool(const struct iparams *p, unsigned bit, bool dflt)
{
    int v = p->bools[bit_index(bit)];
    return v < 0 ? dflt : v != 0;
}

/* Fills p->sel from the PropertyList for class cls (unknown names are ignored, DSP0200). */
static int resolve_plist(struct ctx *c, struct iparams *p, const struct cim_class *cls)
{
    memset(p->sel, 0, sizeof p->sel);
    for (xmlNode *v = first_child(p->plist); v; v = next_sibling(v)) {
        bool ok = true, nomem = false;
        const char *t = is(v, "VALUE") ? text_of(c, v, &ok, &nomem) : NULL;
        if (nomem)
            return R_NOMEM;
        if (!t || !ok)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "PropertyList holds only VALUEs");
        t = trimmed(c, t, &nomem);
        if (nomem)
            return R_NOMEM;
        int i = cim_find_property(cls, t);
        if (i >= 0 && (size_t)i < CIM_MAX_PROPS)
            p->sel[i] = true;
    }
    return 0;
}

/* ---- intrinsic operations ---- */

struct enum_state {
    struct w *w;
    const struct cim_class *cls;
    const bool *sel;
    bool names_only;
};

static int enum_one(const struct cim_instance *in, void *fctx)
{
    struct enum_state *st = fctx;
    if (st->names_only) {
        w_instancename(st->w, st->cls, in);
        ws(st->w, "\n");
    } else {
        ws(st->w, "<VALUE.NAMEDINSTANCE>");
        w_instancename(st->w, st->cls, in);
        ws(st->w, "\n");
        w_instance(st->w, st->cls, in, st->sel);
        ws(st->w, "</VALUE.NAMEDINSTANCE>\n");
    }
    return st->w->err ? 1 : 0;
}

static int map_wbem(struct ctx *c, uint32_t rc, const char *what)
{
    switch (rc) {
    case WBEM_E_NOT_FOUND:
        return errf(c, CIM_ERR_NOT_FOUND, "%.200s: not found", what);
    case WBEM_E_INVALID_METHOD:
        return errf(c, CIM_ERR_METHOD_NOT_FOUND, "%.200s: no such method", what);
    case WBEM_E_INVALID_OBJECT_PATH:
        return errf(c, CIM_ERR_METHOD_NOT_AVAILABLE, "%.200s: not callable on this path", what);
    case WBEM_E_INVALID_PARAMETER:
    case WBEM_E_INVALID_METHOD_PARAMETERS:
        return errf(c, CIM_ERR_INVALID_PARAMETER, "%.200s: invalid parameter", what);
    case WBEM_E_ACCESS_DENIED:
        return errf(c, CIM_ERR_ACCESS_DENIED, "%.200s: access denied", what);
    case WBEM_E_NOT_SUPPORTED:
        return errf(c, CIM_ERR_NOT_SUPPORTED, "%.200s: not supported", what);
    case WBEM_E_INVALID_CLASS:
        return errf(c, CIM_ERR_INVALID_CLASS, "%.200s: invalid class", what);
    default:
        return errf(c, CIM_ERR_FAILED, "%.200s: failed (0x%08x)", what, (unsigned)rc);
    }
}

static int op_get_class(struct ctx *c, struct iparams *p, struct w *w)
{
    int r = find_class(c, p->classname, &p->cls);
    if (!r && p->plist_given)
        r = resolve_plist(c, p, p->cls);
    if (r)
        return r;
    w_class(w, p->cls, ip_bool(p, IP_INCQUAL, true), p->plist_given ? p->sel : NULL);
    return 0;
}

static int op_enum_classes(struct ctx *c, struct iparams *p, struct w *w, bool names)
{
    if (p->seen & IP_CLASSNAME) {
        /* no class here has subclasses */
        return find_class(c, p->classname, &p->cls);
    }
    for (size_t i = 0; i < cim_nclasses; i++) {
        if (names) {
            ws(w, "<CLASSNAME NAME=\"");
            wesc(w, cim_classes[i]->name);
            ws(w, "\"></CLASSNAME>\n");
        } else {
            w_class(w, cim_classes[i], ip_bool(p, IP_INCQUAL, true), NULL);
            ws(w, "\n");
        }
    }
    return 0;
}

static int op_enum_instances(struct ctx *c, struct iparams *p, struct w *w, bool names)
{
    int r = find_class(c, p->classname, &p->cls);
    if (!r && p->plist_given)
        r = resolve_plist(c, p, p->cls);
    if (r)
        return r;
    if (!c->be || !c->be->enumerate)
        return errf(c, CIM_ERR_FAILED, "No provider");
    struct enum_state st = {w, p->cls, p->plist_given ? p->sel : NULL, names};
    if (c->be->enumerate(c->be->ctx, p->cls, enum_one, &st) < 0 && !w->err)
        return errf(c, CIM_ERR_FAILED, "Enumerating %s failed", p->cls->name);
    return 0;
}

static int op_get_instance(struct ctx *c, struct iparams *p, struct w *w)
{
    const char *key = NULL;
    int r = parse_instancename(c, p->instancename, &p->cls, &key);
    if (!r && p->plist_given)
        r = resolve_plist(c, p, p->cls);
    if (r)
        return r;
    if (!c->be || !c->be->get)
        return errf(c, CIM_ERR_FAILED, "No provider");
    struct cim_instance in;
    memset(&in, 0, sizeof in);
    in.cls = p->cls;
    uint32_t rc = c->be->get(c->be->ctx, p->cls, key, &in);
    if (rc == 0)
        w_instance(w, p->cls, &in, p->plist_given ? p->sel : NULL);
    cim_instance_clear(&in);
    if (rc == WBEM_E_NOT_FOUND)
        return errf(c, CIM_ERR_NOT_FOUND, "No instance %s.%s=\"%.150s\"", p->cls->name,
                    p->cls->props[cim_key_index(p->cls)].name, key);
    if (rc)
        return map_wbem(c, rc, p->cls->name);
    return 0;
}

enum { OP_GETCLASS, OP_ENUMCLASSES, OP_ENUMCLASSNAMES, OP_EI, OP_EIN, OP_GI };

static const struct iop {
    const char *name;
    int op;
    unsigned allowed, required;
} iops[] = {
    {"GetClass", OP_GETCLASS, IP_CLASSNAME | IP_LOCALONLY | IP_INCQUAL | IP_INCORIGIN | IP_PLIST,
     IP_CLASSNAME},
    {"EnumerateClasses", OP_ENUMCLASSES,
     IP_CLASSNAME | IP_DEEP | IP_LOCALONLY | IP_INCQUAL | IP_INCORIGIN, 0},
    {"EnumerateClassNames", OP_ENUMCLASSNAMES, IP_CLASSNAME | IP_DEEP, 0},
    {"EnumerateInstances", OP_EI,
     IP_CLASSNAME | IP_LOCALONLY | IP_DEEP | IP_INCQUAL | IP_INCORIGIN | IP_PLIST, IP_CLASSNAME},
    {"EnumerateInstanceNames", OP_EIN, IP_CLASSNAME, IP_CLASSNAME},
    {"GetInstance", OP_GI, IP_INSTANCENAME | IP_LOCALONLY | IP_INCQUAL | IP_INCORIGIN | IP_PLIST,
     IP_INSTANCENAME},
};

static const struct iop *find_iop(const char *name)
{
    for (size_t i = 0; i < sizeof iops / sizeof iops[0]; i++)
        if (!strcasecmp(iops[i].name, name))
            return &iops[i];
    return NULL;
}

/* Writes the IRETURNVALUE content. 0, CIM error, R_NOMEM, R_BADREQ. */
static int do_intrinsic(struct ctx *c, xmlNode *call, const struct iop *op, struct w *w)
{
    xmlNode *lnp = NULL;
    for (xmlNode *e = first_child(call); e; e = next_sibling(e)) {
        if (is(e, "LOCALNAMESPACEPATH")) {
            if (lnp)
                return R_BADREQ;
            lnp = e;
        } else if (!is(e, "IPARAMVALUE") && !is(e, "RESPONSEDESTINATION")) {
            return R_BADREQ;
        }
    }
    if (!lnp)
        return R_BADREQ;
    if (c->req->access_denied)
        return errf(c, CIM_ERR_ACCESS_DENIED, "Only administrators may use %s", op->name);
    int r = check_namespace(c, lnp);
    if (r)
        return r;
    struct iparams p;
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < sizeof p.bools / sizeof p.bools[0]; i++)
        p.bools[i] = -1;
    for (xmlNode *e = first_child(call); e; e = next_sibling(e)) {
        if (is(e, "IPARAMVALUE") && (r = parse_iparam(c, e, op->allowed, &p)) != 0)
            return r;
    }
    if ((p.seen & op->required) != op->required)
        return errf(c, CIM_ERR_INVALID_PARAMETER, "%s needs %s", op->name,
                    op->required == IP_CLASSNAME ? "ClassName" : "InstanceName");
    switch (op->op) {
    case OP_GETCLASS:
        return op_get_class(c, &p, w);
    case OP_ENUMCLASSES:
        return op_enum_classes(c, &p, w, false);
    case OP_ENUMCLASSNAMES:
        return op_enum_classes(c, &p, w, true);
    case OP_EI:
        return op_enum_instances(c, &p, w, false);
    case OP_EIN:
        return op_enum_instances(c, &p, w, true);
    default:
        return op_get_instance(c, &p, w);
    }
}

/* ---- extrinsic methods ---- */

static int do_extrinsic(struct ctx *c, xmlNode *call, const char *mname, struct w *w,
                        const struct cim_method **mout)
{
    xmlNode *target = first_child(call);
    if (!is(target, "LOCALCLASSPATH") && !is(target, "LOCALINSTANCEPATH"))
        return R_BADREQ;
    bool instance = is(target, "LOCALINSTANCEPATH");
    xmlNode *lnp = first_child(target);
    xmlNode *what = next_sibling(lnp);
    if (!is(lnp, "LOCALNAMESPACEPATH") || !is(what, instance ? "INSTANCENAME" : "CLASSNAME") ||
        next_sibling(what))
        return R_BADREQ;
    for (xmlNode *e = next_sibling(target); e; e = next_sibling(e))
        if (!is(e, "PARAMVALUE") && !is(e, "RESPONSEDESTINATION"))
            return R_BADREQ;
    if (c->req->access_denied)
        return errf(c, CIM_ERR_ACCESS_DENIED, "Only administrators may call %.100s", mname);
    int r = check_namespace(c, lnp);
    if (r)
        return r;

    const struct cim_class *cls = NULL;
    const char *key = NULL;
    if (instance)
        r = parse_instancename(c, what, &cls, &key);
    else
        r = find_class(c, attr(what, "NAME"), &cls);
    if (r)
        return r;
    const struct cim_method *m = cim_find_method(cls, mname);
    if (!m)
        return errf(c, CIM_ERR_METHOD_NOT_FOUND, "%s has no method %.100s", cls->name, mname);
    *mout = m;
    if (!instance && !m->on_class)
        return errf(c, CIM_ERR_METHOD_NOT_AVAILABLE,
                    "%s must be called on an instance path (%s.%s=\"...\")", m->name, cls->name,
                    cls->props[cim_key_index(cls)].name);

    struct cim_arg args[MAX_METHOD_ARGS];
    size_t nargs = 0;
    for (xmlNode *e = next_sibling(target); e; e = next_sibling(e)) {
        if (!is(e, "PARAMVALUE"))
            continue;
        const char *pname = attr(e, "NAME");
        if (!pname)
            return R_BADREQ;
        const struct cim_param *prm = NULL;
        for (size_t k = 0; k < m->nparams; k++)
            if (!m->params[k].out && !strcasecmp(m->params[k].name, pname))
                prm = &m->params[k];
        /* tsgw extension, outside the Windows signatures: Scope="Local" keeps DisconnectUser and
         * DisconnectProtocol on the node called in a farm (docs/farm.md) */
        static const struct cim_param scope_param = {"Scope", CIM_STRING, false};
        if (!prm && !strcasecmp(pname, "Scope") && m->on_class && m->nparams == 1)
            prm = &scope_param;
        if (!prm)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "%s has no input parameter %.100s", m->name,
                        pname);
        for (size_t k = 0; k < nargs; k++)
            if (args[k].name == prm->name)
                return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %s given twice", prm->name);
        const char *ptype = attr(e, "PARAMTYPE");
        if (ptype && strcasecmp(ptype, cim_type_name(prm->type)))
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %s is a %s, not %.40s", prm->name,
                        cim_type_name(prm->type), ptype);
        xmlNode *v = first_child(e);
        const char *val = NULL;
        if (v) {
            bool ok = true, nomem = false;
            if (!is(v, "VALUE") || next_sibling(v))
                return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %s must be a single %s",
                            prm->name, cim_type_name(prm->type));
            val = text_of(c, v, &ok, &nomem);
            if (!nomem && ok && prm->type != CIM_STRING)
                val = trimmed(c, val, &nomem);
            if (nomem)
                return R_NOMEM;
            if (!ok || !valid_for_type(prm->type, val))
                return errf(c, CIM_ERR_INVALID_PARAMETER, "Parameter %s must be a %s", prm->name,
                            cim_type_name(prm->type));
        }
        if (nargs == MAX_METHOD_ARGS)
            return errf(c, CIM_ERR_INVALID_PARAMETER, "Too many parameters");
        args[nargs].name = prm->name;
        args[nargs].value = val;
        nargs++;
    }

    if (!c->be || !c->be->invoke)
        return errf(c, CIM_ERR_FAILED, "No provider");
    uint32_t ret = 0;
    uint32_t rc = c->be->invoke(c->be->ctx, cls, m->name, key, args, nargs, &ret);
    if (rc)
        return map_wbem(c, rc, m->name);
    ws(w, "<RETURNVALUE PARAMTYPE=\"");
    ws(w, cim_type_name(m->return_type));
    ws(w, "\"><VALUE>");
    wu64(w, ret);
    ws(w, "</VALUE></RETURNVALUE>");
    /* The backend interface carries no output parameters: declared ones are reported NULL. */
    for (size_t k = 0; k < m->nparams; k++) {
        if (!m->params[k].out)
            continue;
        ws(w, "<PARAMVALUE NAME=\"");
        wesc(w, m->params[k].name);
        ws(w, "\" PARAMTYPE=\"");
        ws(w, cim_type_name(m->params[k].type));
        ws(w, "\"></PARAMVALUE>");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Entry point                                                                                */
/* ------------------------------------------------------------------------------------------ */

static bool header_is(const char *h, const char *want)
{
    if (!h)
        return false;
    while (is_space(*h))
        h++;
    size_t n = strlen(h);
    while (n && is_space(h[n - 1]))
        n--;
    return n == strlen(want) && !strncasecmp(h, want, n);
}

static void w_error(struct w *w, int code, const char *desc)
{
    ws(w, "<ERROR CODE=\"");
    wu64(w, (uint64_t)code);
    ws(w, "\" DESCRIPTION=\"");
    wesc(w, desc);
    ws(w, "\"></ERROR>");
}

/* Writes the whole response for a parsed document. 0, R_NOMEM, R_BADREQ, or a negative
 * CIMXML_HDR_* marker through *hdr (with *status). */
static int respond(struct ctx *c, xmlDocPtr doc, struct w *w, int *status, int *hdr)
{
    xmlNode *cim = xmlDocGetRootElement(doc);
    if (!is(cim, "CIM"))
        return R_BADREQ;
    xmlNode *msg = first_child(cim);
    if (!is(msg, "MESSAGE") || next_sibling(msg))
        return R_BADREQ;
    const char *id = attr(msg, "ID");
    if (!id || strlen(id) > MAX_ID_LEN)
        return R_BADREQ;
    xmlNode *req = first_child(msg);
    if (is(req, "MULTIREQ") && !next_sibling(req)) {
        *status = 501;
        *hdr = CIMXML_HDR_MULTIPLE_REQUESTS;
        return 0;
    }
    if (!is(req, "SIMPLEREQ") || next_sibling(req))
        return R_BADREQ;
    xmlNode *call = NULL;
    for (xmlNode *e = first_child(req); e; e = next_sibling(e)) {
        if (is(e, "IMETHODCALL") || is(e, "METHODCALL")) {
            if (call)
                return R_BADREQ;
            call = e;
        } else if (!is(e, "CORRELATOR")) {
            return R_BADREQ;
        }
    }
    if (!call)
        return R_BADREQ;
    const char *name = attr(call, "NAME");
    if (!name || !*name)
        return R_BADREQ;
    if (c->req->cim_method && !header_is(c->req->cim_method, name)) {
        *status = 400;
        *hdr = CIMXML_HDR_HEADER_MISMATCH;
        return 0;
    }

    bool intrinsic = is(call, "IMETHODCALL");
    const struct iop *op = intrinsic ? find_iop(name) : NULL;
    const struct cim_method *m = NULL;

    ws(w, "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
          "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\n<MESSAGE ID=\"");
    wesc(w, id);
    ws(w, "\" PROTOCOLVERSION=\"1.0\">\n<SIMPLERSP>\n");

    /* The response element name is only known after the call was understood, so the answer
     * goes to a scratch buffer first. */
    struct buf body = BUF_INIT;
    struct w wb = {&body, false};
    int r;
    if (intrinsic && !op) {
        if (c->req->access_denied)
            r = errf(c, CIM_ERR_ACCESS_DENIED, "Only administrators may use %.100s", name);
        else
            r = errf(c, CIM_ERR_NOT_SUPPORTED, "Operation %.100s is not supported", name);
    } else if (intrinsic) {
        r = do_intrinsic(c, call, op, &wb);
    } else {
        r = do_extrinsic(c, call, name, &wb, &m);
    }
    if (wb.err)
        r = R_NOMEM;
    if (r < 0) {
        buf_free(&body);
        return r;
    }
    const char *tag = intrinsic ? "IMETHODRESPONSE" : "METHODRESPONSE";
    ws(w, "<");
    ws(w, tag);
    ws(w, " NAME=\"");
    wesc(w, op ? op->name : m ? m->name : name);
    ws(w, "\">");
    if (r > 0) {
        w_error(w, r, c->desc);
    } else {
        if (intrinsic)
            ws(w, "<IRETURNVALUE>\n");
        wn(w, (const char *)buf_data(&body), buf_len(&body));
        if (intrinsic)
            ws(w, "</IRETURNVALUE>");
    }
    buf_free(&body);
    ws(w, "</");
    ws(w, tag);
    ws(w, ">\n</SIMPLERSP>\n</MESSAGE>\n</CIM>\n");
    return w->err ? R_NOMEM : 0;
}

int cimxml_handle(const struct cimxml_request *req, const struct cimxml_backend *be,
                  struct buf *out, int *http_status, int *cim_error_header)
{
    *http_status = 200;
    *cim_error_header = CIMXML_HDR_NONE;
    if (!req || !header_is(req->cim_operation, "MethodCall")) {
        *http_status = 400;
        *cim_error_header = CIMXML_HDR_UNSUPPORTED_OPERATION;
        return 0;
    }
    xmlInitParser();
    bool nomem = false;
    xmlDocPtr doc = parse_safe(req->body, req->body_len, &nomem);
    if (!doc) {
        if (nomem)
            return -ENOMEM;
        *http_status = 400;
        *cim_error_header = CIMXML_HDR_REQUEST_NOT_VALID;
        return 0;
    }
    struct ctx c;
    memset(&c, 0, sizeof c);
    c.req = req;
    c.be = be;
    size_t start_len = buf_len(out);
    struct w w = {out, false};
    int r = respond(&c, doc, &w, http_status, cim_error_header);
    ctx_free(&c);
    xmlFreeDoc(doc);
    if (r < 0 || *cim_error_header) {
        out->end = out->start + start_len; /* nothing of a failed answer stays */
        if (r == R_NOMEM)
            return -ENOMEM;
        if (r == R_BADREQ) {
            *http_status = 400;
            *cim_error_header = CIMXML_HDR_REQUEST_NOT_VALID;
        }
    }
    return 0;
}
