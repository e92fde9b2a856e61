#!/usr/bin/python3
"""Reads a mail with Python's email package (an independent parser) and prints what the tests
check, as JSON: the headers, the MIME tree, the human text, the delivery-status blocks, the
returned headers and the attachments. Usage: read_report.py FILE"""
import email
import email.policy
import json
import sys


def tree(part):
    node = {"type": part.get_content_type()}
    if part.get_filename():
        node["filename"] = part.get_filename()
    if part.get("Content-ID"):
        node["cid"] = part.get("Content-ID")
    if part.get_content_disposition():
        node["disposition"] = part.get_content_disposition()
    if part.is_multipart():
        node["parts"] = [tree(p) for p in part.iter_parts()]
    return node


def main():
    raw = open(sys.argv[1], "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = {
        "headers": {k: str(v) for k, v in msg.items()},
        "content_type": msg.get_content_type(),
        "params": dict(msg["Content-Type"].params),
        "tree": tree(msg),
        "text": None,
        "html": None,
        "status": [],
        "returned": None,
        "attachments": [],
        "images": [],
        "defects": [str(d) for d in msg.defects],
    }
    for part in msg.walk():
        ctype = part.get_content_type()
        out["defects"] += [str(d) for d in part.defects]
        if ctype == "message/delivery-status":
            # the email package parses the blocks as a list of header sets
            out["status"] = [dict(block.items()) for block in part.get_payload()]
        elif ctype in ("text/rfc822-headers", "message/rfc822"):
            payload = part.get_payload()
            if isinstance(payload, list):
                out["returned"] = {"type": ctype, "headers": dict(payload[0].items())}
            else:
                inner = email.message_from_string(part.get_content(), policy=email.policy.default)
                out["returned"] = {"type": ctype, "headers": {k: str(v) for k, v in inner.items()}}
        elif part.get_content_disposition() == "attachment":
            data = part.get_payload(decode=True)
            out["attachments"].append({"filename": part.get_filename(), "type": ctype,
                                       "size": len(data), "magic": data[:8].hex()})
        elif ctype == "text/plain" and out["text"] is None:
            out["text"] = part.get_content()
        elif ctype == "text/html" and out["html"] is None:
            out["html"] = part.get_content()
        elif ctype.startswith("image/"):
            data = part.get_payload(decode=True)
            out["images"].append({"type": ctype, "cid": part.get("Content-ID"),
                                  "size": len(data), "magic": data[:8].hex()})
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)


main()
