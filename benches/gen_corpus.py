#!/usr/bin/env python3
"""Generates a realistic synthetic Maildir for the speed and memory benchmarks.

usage: gen_corpus.py COUNT DIR [SEED]

Messages are a mix of what an office mailbox holds: short replies and long
threads with quoted text, UTF-8 and ISO-8859-1, 8bit, quoted-printable and
base64 bodies, multipart/alternative with HTML, newsletters, and (10%) an
attachment: PDF, DOCX, XLSX, CSV or a zip. About 3% carry a synthetic
fødselsnummer and 2% health wording. Folders: INBOX, Sendt, Arkiv/2023,
Prosjekter/Kunde. File mtimes spread over three years. Deterministic per seed.

With MH_BENCH_OFFICE=1 the mailbox is heavier in documents, as issue 11's
independent corpus was: PDF, DOCX or XLSX attachments on 8% of messages,
a third of them with a fødselsnummer inside the document.
MH_BENCH_OFFICE=real makes the same mailbox with documents as office
programs write them (benches/real_documents.py: embedded fonts, several
pages, styles; needs reportlab, python-docx and openpyxl from PyPI).
"""
import base64
import io
import os
import random
import sys
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import generate as g  # noqa: E402

WORDS = ("prosjekt møte avtale kunde leveranse frist budsjett rapport oppdatering tilbud faktura "
         "kontrakt plan status innspill forslag endring sak vedlegg gjennomgang neste uke torsdag "
         "fredag mandag takk hilsen beskjed informasjon oversikt løsning behov ressurser team "
         "opplæring system tjeneste drift sikkerhet kvalitet ansvar mål resultat strategi").split()
FOLDERS = ["", ".Sendt", ".Arkiv.2023", ".Prosjekter.Kunde"]


def sentence(rng, n=None):
    n = n or rng.randint(6, 18)
    s = " ".join(rng.choice(WORDS) for _ in range(n))
    return s[0].upper() + s[1:] + "."


def paragraph(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def qp(text):
    import quopri
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def body_text(rng, i):
    parts = [paragraph(rng) for _ in range(rng.randint(1, 6))]
    r = rng.random()
    if r < 0.03:
        parts.insert(1, "Fødselsnummer: %s" % g.sp(g.FNR_A if i % 2 else g.FNR_B))
    elif r < 0.05:
        parts.insert(1, "Jeg er sykmeldt resten av uka, legeerklæring kommer.")
    elif r < 0.10:
        parts.append("Tlf 912 34 567, ordrenummer %d, org.nr 921 760 515." % (100000 + i))
    if rng.random() < 0.4:  # a quoted thread
        quoted = "\n".join("> " + l for l in "\n".join(paragraph(rng) for _ in range(rng.randint(2, 8))).split("\n"))
        parts.append("Den %d. mai skrev Kari Testesen:\n%s" % (rng.randint(1, 28), quoted))
    return "\n\n".join(parts) + "\n\nHilsen\nOla Prøvesen\n"


OFFICE = os.environ.get("MH_BENCH_OFFICE") in ("1", "real")
# Documents as Word, Excel and PDF writers make them (benches/real_documents.py).
REAL = os.environ.get("MH_BENCH_OFFICE") == "real"


def planted_fnr(rng):
    for _ in range(20):
        try:
            return g.first_fnr("%02d%02d%02d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(50, 99)),
                               rng.randint(100, 400))
        except ValueError:
            continue
    return "15076500565"


def real_attachment(rng, i):
    import real_documents as rd
    kind = rng.choice(["pdf", "docx", "xlsx"])
    paragraphs = [paragraph(rng) for _ in range(rng.randint(3, 30))]
    planted = rng.random() < 1 / 3
    staff = [["Ansatt %d" % r, planted_fnr(rng) if planted else "%d" % (1000 + r), rng.choice(WORDS),
              "9%02d %02d %03d" % (rng.randint(0, 99), rng.randint(0, 99), rng.randint(0, 999))]
             for r in range(rng.randint(5, 40))]
    header = ["Navn", "Fødselsnummer" if planted else "Ansattnr", "Avdeling", "Telefon"]
    if kind == "pdf":
        if planted and rng.random() < 0.5:
            paragraphs.insert(rng.randrange(len(paragraphs)), "Fødselsnummer %s. %s" % (planted_fnr(rng), sentence(rng)))
            return "rapport.pdf", "application/pdf", rd.pdf(rng, paragraphs)
        return "rapport.pdf", "application/pdf", rd.pdf(rng, paragraphs, [header] + staff if planted or rng.random() < 0.3 else None)
    if kind == "docx":
        if planted and rng.random() < 0.5:
            paragraphs.insert(rng.randrange(len(paragraphs)), "Fødselsnummer %s. %s" % (planted_fnr(rng), sentence(rng)))
            return "notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", rd.docx(rng, paragraphs)
        return "notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", \
            rd.docx(rng, paragraphs, [header] + staff if planted or rng.random() < 0.3 else None)
    rows = [[r[0], int(r[1]) if planted else int(r[1]), r[2], r[3]] for r in staff]
    if not planted:
        header = ["Navn", "Beløp", "Avdeling", "Telefon"]
        rows = [[r[0], rng.randint(100, 99999), r[2], r[3]] for r in staff]
    return "ansatte.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", rd.xlsx(rng, header, rows)


def attachment(rng, i):
    if REAL:
        return real_attachment(rng, i)
    kind = rng.choice(["pdf", "docx", "xlsx"] if OFFICE else ["pdf", "docx", "xlsx", "csv", "zip"])
    line = "Referanse %d. %s" % (i, sentence(rng))
    if OFFICE and rng.random() < 1 / 3:
        line = "Fødselsnummer %s. %s" % (planted_fnr(rng), sentence(rng))
        if kind == "xlsx":
            return "ansatte.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", \
                g.xlsx(["Navn", "Fnr", "Avdeling"], [[("s", 0), ("s", 1), ("s", 2)]] +
                       [[("inline", "Ansatt %d" % r), ("n", planted_fnr(rng)), ("inline", rng.choice(WORDS))]
                        for r in range(rng.randint(5, 40))])
        if kind == "docx":
            return "notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", \
                g.docx([[paragraph(rng)] for _ in range(rng.randint(3, 12))] + [[line]])
    if kind == "pdf":
        return "rapport.pdf", "application/pdf", g.pdf([line, sentence(rng), sentence(rng)])
    if kind == "docx":
        return "notat.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", \
            g.docx([[paragraph(rng)] for _ in range(rng.randint(3, 12))])
    if kind == "xlsx":
        return "tall.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", \
            g.xlsx(["Navn", "Beløp"], [[("s", 0), ("s", 1)]] + [[("inline", "Post %d" % r), ("n", str(rng.randint(100, 99999)))] for r in range(rng.randint(5, 60))])
    if kind == "csv":
        rows = "\n".join("%d;%s;%d" % (r, rng.choice(WORDS), rng.randint(1, 9999)) for r in range(rng.randint(10, 200)))
        return "eksport.csv", "text/csv", ("id;tekst;verdi\n" + rows).encode()
    return "vedlegg.zip", "application/zip", g.zip_bytes([("les.txt", paragraph(rng)), ("data.csv", "a;b\n1;2\n")])


def message(rng, i):
    subject = sentence(rng, rng.randint(2, 6))[:-1]
    headers = ("Return-Path: <ola@firma.example>\nReceived: from mx.firma.example by imap.firma.example; Mon, 2 Jun 2025 09:30:00 +0200\n"
               "Message-ID: <bench.%d@firma.example>\nDate: Mon, 02 Jun 2025 09:30:00 +0200\n"
               "From: Ola Prøvesen <ola@firma.example>\nTo: Kari Testesen <kari@firma.example>\n"
               "Subject: %s\nMIME-Version: 1.0\n" % (i, subject))
    text = body_text(rng, i)
    enc = rng.random()
    if enc < 0.35:
        text_part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text
    elif enc < 0.6:
        text_part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(text)
    elif enc < 0.8:
        text_part = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64(text.encode())
    else:
        text_part = "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" + \
            __import__("quopri").encodestring(text.encode("latin-1", "replace")).decode("ascii")
    if rng.random() < 0.5:
        html = "<html><body>" + "".join("<p>%s</p>" % p.replace("\n", "<br>") for p in text.split("\n\n")) + "</body></html>"
        alt = ('Content-Type: multipart/alternative; boundary="alt%d"\n\n--alt%d\n%s\n--alt%d\n'
               "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n%s\n--alt%d--\n"
               % (i, i, text_part, i, qp(html), i))
        main = alt
    else:
        main = text_part
    if rng.random() < (0.08 if OFFICE else 0.10):
        name, ctype, data = attachment(rng, i)
        return headers + ('Content-Type: multipart/mixed; boundary="mix%d"\n\n--mix%d\n%s\n--mix%d\n'
                          'Content-Type: %s; name="%s"\nContent-Disposition: attachment; filename="%s"\n'
                          "Content-Transfer-Encoding: base64\n\n%s\n--mix%d--\n"
                          % (i, i, main, i, ctype, name, name, b64(data), i))
    if main is text_part:
        return headers + text_part
    return headers + main


def main():
    count, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    for f in FOLDERS:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(out, f, sub), exist_ok=True)
    now = 1764000000  # 2025-11-24
    total = 0
    for i in range(count):
        data = message(rng, i).encode("utf-8")
        total += len(data)
        folder = FOLDERS[i % len(FOLDERS)]
        flags = "FS" if i % 23 == 0 else "S"
        path = os.path.join(out, folder, "cur", "%d.M%dP1.bench:2,%s" % (now - i * 97, i, flags))
        with open(path, "wb") as f:
            f.write(data)
        t = now - rng.randint(0, 3 * 365 * 86400)
        os.utime(path, (t, t))
    print("wrote %d messages, %.1f MB, to %s" % (count, total / 1e6, out))


if __name__ == "__main__":
    main()
