#!/usr/bin/env python3
"""The straightforward scanner the speed target is measured against: Python's
standard email package, a regex for the written forms, python-stdnum for the
checksum. Reads every text part (not attachments' contents).

usage: baseline_scanner.py MAILDIR
"""
import email
import email.policy
import os
import re
import sys

from stdnum.no import fodselsnummer

PATTERN = re.compile(r"(?<!\d)(\d{6})[ -]?(\d{5})(?!\d)")


def main():
    root = sys.argv[1]
    found = 0
    messages = 0
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            messages += 1
            texts = [str(msg.get("subject", ""))]
            for part in msg.walk():
                if part.get_content_maintype() == "text":
                    try:
                        texts.append(part.get_content())
                    except Exception:
                        pass
            for text in texts:
                for m in PATTERN.finditer(text):
                    if fodselsnummer.is_valid(m.group(1) + m.group(2)):
                        found += 1
    print("%d messages, %d candidates" % (messages, found))


if __name__ == "__main__":
    main()
