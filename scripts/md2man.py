#!/usr/bin/env python3
"""Turns docs/tsgw.conf.md into the tsgw.conf(5) man page, so the two never disagree.

Usage: md2man.py OUTPUT.5 VERSION INPUT.md [MORE.md ...] (later files become sections)
Handles what that file uses: '#'/'##' headings, tables (one .TP entry per row), paragraphs,
indented code blocks, `code`, **bold**, [links](target). Standard library only."""
import os
import re
import sys
import time


def esc(text):
    text = text.replace("\\", "\\e")
    text = text.replace("-", "\\-")
    text = text.replace("\u2014", "\\(em").replace("\u2192", "\\(->")
    return text


def inline(text):
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1", text)
    out = []
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append("\\fB" + esc(part) + "\\fR")
        else:
            part = esc(part)
            part = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", part)
            out.append(part)
    return "".join(out)


def line_safe(s):
    s = s.strip()
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def main():
    dst, version, src = sys.argv[1], sys.argv[2], sys.argv[3]
    lines = open(src, encoding="utf-8").read().splitlines()
    for more in sys.argv[4:]:
        for l in open(more, encoding="utf-8").read().splitlines():
            lines.append("#" + l if l.startswith("# ") else l)
    stamp = int(os.environ.get("SOURCE_DATE_EPOCH", os.stat(src).st_mtime))
    date = time.strftime("%Y-%m-%d", time.gmtime(stamp))
    out = [
        '.TH TSGW.CONF 5 %s "tsgw %s" "File Formats"' % (date, version),
        ".SH NAME",
        "tsgw.conf \\- tsgwd configuration file",
        ".SH DESCRIPTION",
    ]
    header = None
    para = []
    code = False

    def flush_para():
        if para:
            if not out[-1].startswith(".SH"):
                out.append(".PP")
            out.append(line_safe(inline(" ".join(para))))
            para.clear()

    for raw in lines:
        if raw.startswith("    ") and not header and (code or not para):
            if not code:
                flush_para()
                if not out[-1].startswith(".SH"):
                    out.append(".PP")
                out.append(".RS 4")
                out.append(".nf")
                code = True
            out.append(line_safe(esc(raw[4:])) if raw[4:].strip() else "")
            continue
        if code:
            out.append(".fi")
            out.append(".RE")
            code = False
        s = raw.strip()
        if s.startswith("# "):
            continue  # the title: NAME above
        if s.startswith("## "):
            flush_para()
            header = None
            out.append(".SH " + line_safe(inline(s[3:])))
            continue
        if s.startswith("|"):
            flush_para()
            cells = [c.strip() for c in s.strip("|").split("|")]
            if header is None:
                header = cells
                continue
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            out.append(".TP")
            out.append(line_safe(inline(cells[0])))
            rest = []
            for name, val in zip(header[1:], cells[1:]):
                if not val:
                    continue
                if name.lower() in ("default",):
                    rest.append("Default: " + inline(val) + ".")
                elif name.lower() in ("meaning", "wmi property"):
                    rest.append(inline(val))
                else:
                    rest.append(inline(name) + ": " + inline(val) + ".")
            out.append(line_safe(" ".join(rest)) if rest else "\\&")
            continue
        header = None
        if not s:
            flush_para()
            continue
        para.append(s)
    if code:
        out.append(".fi")
        out.append(".RE")
    flush_para()
    out += [
        ".SH FILES",
        ".TP",
        "/etc/tsgw/tsgw.conf",
        "the configuration of the packaged service",
        ".SH SEE ALSO",
        ".BR tsgwd (8),",
        ".BR tsgwctl (8),",
        ".BR journalctl (1)",
    ]
    # no blank lines in roff, no trailing spaces
    text = "\n".join(l.rstrip() for l in out if l != "") + "\n"
    open(dst, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
