#!/usr/bin/python3
# faxhub's LibreOffice worker: keeps one headless soffice warm and converts documents to PDF.
#
# Started by faxhub (converters/src/office/mod.rs) in its own process group, with a private
# profile directory and pipe name. Protocol on stdin/stdout, one JSON object a line:
#   worker -> {"ready": true}                          once soffice answers over UNO
#   faxhub -> {"in": "/path/doc.docx", "out": "/path/doc.pdf"}
#   worker -> {"ok": true, "pages": N} | {"error": "why"}
# If soffice dies, the worker exits (status 3): faxhub then kills the group and starts another.
# When stdin closes (faxhub stopped, or was killed), the worker kills its whole process group.
# Documents are loaded hidden, read-only, with macros never run and links never updated. The
# profile is hardened before soffice first reads it (HARDENING): macros disabled, linked
# graphics from documents blocked, links (Writer, Calc) never updated, spreadsheet formulas
# never recalculated on load (so INDIRECT or WEBSERVICE cannot fetch anything while loading).
# HTML (a mail body made printable by faxhub) is laid out by Writer.
# Spreadsheets are printed one page wide (as many pages down as needed), so no column is split
# onto extra pages.
import json
import os
import signal
import subprocess
import sys
import time

import uno
from com.sun.star.beans import PropertyValue

# faxhub names a flat OpenDocument file by its root element's mimetype
FLAT_FILTERS = {
    "fodt": "OpenDocument Text Flat XML",
    "fods": "OpenDocument Spreadsheet Flat XML",
    "fodp": "OpenDocument Presentation Flat XML",
    "fodg": "OpenDocument Drawing Flat XML",
}


def prop(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def connect(pipe):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.time() + 120
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def pdf_filter(doc):
    if doc.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
        return "calc_pdf_Export"
    if doc.supportsService("com.sun.star.presentation.PresentationDocument"):
        return "impress_pdf_Export"
    if doc.supportsService("com.sun.star.drawing.DrawingDocument"):
        return "draw_pdf_Export"
    if doc.supportsService("com.sun.star.text.WebDocument"):
        return "writer_web_pdf_Export"
    return "writer_pdf_Export"


def fit_sheets_to_width(doc):
    styles = doc.StyleFamilies.getByName("PageStyles")
    for sheet in doc.Sheets:
        style = styles.getByName(sheet.PageStyle)
        style.ScaleToPagesX = 1
        style.ScaleToPagesY = 0


def main():
    profile, pipe = sys.argv[1], sys.argv[2]
    soffice = subprocess.Popen(
        [
            "soffice", "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
            "--nofirststartwizard", "--nolockcheck",
            "-env:UserInstallation=" + uno.systemPathToFileUrl(profile),
            f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ctx = connect(pipe)
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    reply({"ready": True})
    load_props = (
        prop("Hidden", True), prop("ReadOnly", True), prop("UpdateDocMode", 0),
        prop("MacroExecutionMode", 0), prop("RepairPackage", True),
    )
    for line in sys.stdin:
        request = json.loads(line)
        doc = None
        try:
            props = load_props
            extension = request["in"].lower().rsplit(".", 1)[-1]
            if extension in ("html", "htm"):
                # into Writer (not Writer/Web, whose PDF export prints nothing headless)
                props = load_props + (prop("FilterName", "HTML (StarWriter)"),)
            elif extension in FLAT_FILTERS:
                # a flat OpenDocument file is read by its own filter, never detected as another
                props = load_props + (prop("FilterName", FLAT_FILTERS[extension]),)
            doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(request["in"]), "_blank", 0, props)
            if doc is None:
                raise RuntimeError("the file could not be opened")
            if doc.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
                fit_sheets_to_width(doc)
            doc.storeToURL(uno.systemPathToFileUrl(request["out"]), (prop("FilterName", pdf_filter(doc)),))
            reply({"ok": True})
        except Exception as e:
            # A lost bridge means soffice died: exit, so that faxhub starts a fresh instance.
            if soffice.poll() is not None or "disposed" in str(e).lower() or "Disposed" in type(e).__name__:
                sys.exit(3)
            reply({"error": str(e).splitlines()[0] if str(e) else type(e).__name__})
        finally:
            if doc is not None:
                try:
                    doc.close(True)
                except Exception:
                    pass


if __name__ == "__main__":
    try:
        main()
    finally:
        # stdin closed (faxhub stopped or died), or anything went wrong: take soffice and its
        # helpers (our process group) along, so that no instance outlives its worker.
        os.killpg(os.getpgrp(), signal.SIGKILL)
