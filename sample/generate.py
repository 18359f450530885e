#!/usr/bin/env python3
"""Writes the sample mailbox the README's first command scans: a small,
realistic-looking company mailbox of synthetic people, as a directory of mbox
files (one per folder; mbox keeps each message's received date in its
`From ` line, which a git checkout would not keep for Maildir files).

Run from the repository root:  python3 sample/generate.py
Deterministic: the same output every run.
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import generate as g  # noqa: E402  (the fixture corpus's synthetic identities)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mailbox")
rng = random.Random(2026)

PEOPLE = ["Kari Testesen", "Ola Prøvesen", "Ingrid Eksempel", "Per Fiktiv", "Nora Dummy", "Lars Syntetisk"]
DOMAIN = "firma.example"


def addr(name):
    return "%s <%s@%s>" % (name, name.split()[0].lower().replace("ø", "o"), DOMAIN)


def message(folder, n, date, sender, to, subject, body, extra_headers="", flagged=False):
    weekday = date.strftime("%a")
    from_line = "From %s %s %s" % (sender.split("<")[1].rstrip(">"), weekday, date.strftime("%b %d %H:%M:%S %Y"))
    status = "X-Status: F\n" if flagged else ""
    headers = (
        "Message-ID: <%s.%d@%s>\nDate: %s\nFrom: %s\nTo: %s\nSubject: %s\nMIME-Version: 1.0\n%s%s"
        % (folder.lower().replace("/", "-"), n, DOMAIN, date.strftime("%a, %d %b %Y %H:%M:%S +0100"),
           sender, to, subject, status, extra_headers)
    )
    if "Content-Type" not in extra_headers:
        headers += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"
    body = "\n".join(">" + l if l.startswith("From ") else l for l in body.split("\n"))
    return "%s\n%s\n%s\n\n" % (from_line, headers, body)


def day(y, m, d, h=9):
    import datetime
    return datetime.datetime(y, m, d, h, rng.randint(0, 59), rng.randint(0, 59))


ORDINARY = [
    ("Møtereferat prosjektmøte", "Hei alle,\n\nVedlagt referat fra møtet i dag. Neste møte blir torsdag kl 10.\n\nHilsen\n{me}"),
    ("Lunsj fredag?", "Noen som blir med på lunsj fredag? Tenkte kantina kl 11.30.\n\n{me}"),
    ("Re: Tilbud på rammeavtale", "Takk for tilbudet. Vi ser på det og kommer tilbake innen utgangen av måneden.\n\nMvh\n{me}"),
    ("Oppdatering av intranett", "Intranettet får ny forside neste uke. Gi beskjed om noe mangler.\n"),
    ("Kvartalsrapport Q2", "Her er tallene for andre kvartal. Omsetningen økte med 4 prosent.\n"),
    ("Påminnelse: HMS-kurs", "Husk HMS-kurset på tirsdag. Tema er helse, miljø og sikkerhet på arbeidsplassen.\n"),
    ("Ny prosjektplan", "Oppdatert prosjektplan ligger i Teams. Fristen for fase 2 er flyttet to uker.\n"),
    ("Kundemøte", "Kunden ønsker møte om leveransen. Passer onsdag kl 13?\n\nRing meg på 912 34 567.\n"),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    folders = {}

    inbox = []
    n = 0
    for year in (2022, 2023, 2024, 2025, 2026):
        for subject, body in ORDINARY:
            if rng.random() < 0.55:
                continue
            n += 1
            me, other = rng.sample(PEOPLE, 2)
            inbox.append(message("INBOX", n, day(year, rng.randint(1, 10), rng.randint(1, 28)),
                                 addr(other), addr(me), subject, body.format(me=other.split()[0]),
                                 flagged=(n % 9 == 0)))
    # Sensitive mail that should not be in email at all.
    n += 1
    inbox.append(message("INBOX", n, day(2025, 3, 4), addr(PEOPLE[1]), addr(PEOPLE[0]), "Sykmelding",
                         "Hei Kari,\n\nJeg er sykmeldt ut neste uke. Legeerklæringen kommer i posten.\n\nOla"))
    n += 1
    inbox.append(message("INBOX", n, day(2026, 9, 15), addr(PEOPLE[2]), addr(PEOPLE[0]), "Ny ansatt - personalia",
                         "Hei,\n\nHer er opplysningene til den nye ansatte:\nNavn: Nora Dummy\nFødselsnummer: %s\n"
                         "Kontonummer for lønn: %s.%s.%s\n\nIngrid" % (g.sp(g.FNR_A), g.ACCOUNT[:4], g.ACCOUNT[4:6], g.ACCOUNT[6:])))
    n += 1
    inbox.append(message("INBOX", n, day(2024, 5, 2), addr(PEOPLE[3]), addr(PEOPLE[0]), "Reiseregning",
                         "Betalte med firmakortet %s %s %s %s, kvittering vedlagt.\n" % (
                             g.CARD[:4], g.CARD[4:8], g.CARD[8:12], g.CARD[12:])))
    n += 1
    inbox.append(message("INBOX", n, day(2026, 10, 1), addr(PEOPLE[4]), addr(PEOPLE[0]), "Fwd: Søknad om tilrettelegging",
                         "Videresender fra fastlegen, gjelder tilrettelegging etter operasjonen.\n"
                         "D-nummer: %s\n" % g.D_NUM))
    folders["INBOX"] = inbox

    sent = []
    for i in range(1, 8):
        me, other = PEOPLE[0], rng.choice(PEOPLE[1:])
        subject, body = rng.choice(ORDINARY)
        sent.append(message("Sendt", i, day(rng.choice((2023, 2025, 2026)), rng.randint(1, 10), rng.randint(1, 28)),
                            addr(me), addr(other), subject, body.format(me="Kari")))
    sent.append(message("Sendt", 9, day(2026, 2, 10), addr(PEOPLE[0]), "Lønn <lonn@%s>" % DOMAIN, "Lønnsendring",
                        "Hei lønn,\n\nFra mars skal Per Fiktiv (fnr %s) ha nytt lønnstrinn.\n\nKari" % g.FNR_B))
    folders["Sendt"] = sent

    forms = []
    for i in range(1, 7):
        forms.append(message("Nettskjema", i, day(2026, rng.choice((6, 8, 10, 11)), rng.randint(1, 20)),
                             "Nettskjema <skjema@nettsted.example>", addr(PEOPLE[0]), "Nytt kontaktskjema",
                             "Navn: Kunde %d\nE-post: kunde%d@example.test\nMelding: Jeg ønsker et tilbud.\n" % (i, i)))
    folders["Nettskjema"] = forms

    shop = []
    for i in range(1, 6):
        shop.append(message("Nettbutikk", i, day(rng.choice((2024, 2025, 2026)), rng.randint(1, 10), rng.randint(1, 28)),
                            "Nettbutikk <ordre@butikk.example>", addr(PEOPLE[0]), "Ordrebekreftelse %d" % (10400 + i),
                            "Takk for bestillingen!\nOrdrenummer %d\nKID: %s\nSum: 1 249,00 kr\n" % (
                                10400 + i, g.FNR_C)))
    folders["Nettbutikk"] = shop

    accounts = []
    for i, year in enumerate((2019, 2020, 2021, 2023, 2025), 1):
        accounts.append(message("Regnskap", i, day(year, 3, 15), "Leverandør <faktura@leverandor.example>",
                                addr(PEOPLE[0]), "Faktura %d-%03d" % (year, i),
                                "Faktura for konsulenttjenester.\nOrg.nr 921 760 515\nBetales til IBAN %s\n" % g.IBAN))
    folders["Regnskap"] = accounts

    for folder, messages in folders.items():
        with open(os.path.join(OUT, folder), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(messages))
    print("wrote %d folders, %d messages to %s" % (len(folders), sum(map(len, folders.values())), OUT))


if __name__ == "__main__":
    main()
