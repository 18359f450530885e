#!/usr/bin/env python3
"""Detection-quality benchmark: precision and recall of the national-ID and
health detectors over a generated, labelled mailbox.

usage: quality.py [COUNT] [SEED]        (run from the repository root)

It builds COUNT messages (default 3000) from varied templates: national IDs
in every written form and container (subject, plain, QP with soft breaks,
base64, HTML with entities and tags, DOCX runs, XLSX cells, CSV, PDF, zip,
forwarded messages), look-alike negatives (accounts in account form, KID,
invoice, order and tracking numbers, phone and organisation numbers, long
digit runs, impossible and future dates, Tenor/NHN test identities), health
mail and health-sounding negatives (HMS, personvern, IT health checks). It
scans them with the release binary and scores the JSONL against the labels:
an ID counts as found when its keyed fingerprint (computed here with the same
key) is reported for that message. It also checks that no planted value
appears in clear in the output.

This is our own corpus, so it is a regression gauge, not the independent
held-out judgement; it is built wider than the fixtures so that tuning to a
handful of examples shows up as lost recall or precision here.
"""
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import generate as g  # noqa: E402

KEY = "quality-benchmark-key-0123456789"
ID_DETECTORS = {"no.fodselsnummer", "no.d_nummer", "no.h_nummer"}


def random_person(rng, kind="fnr"):
    while True:
        year = rng.randint(1940, 2020)
        month = rng.randint(1, 12)
        day = rng.randint(1, 28)
        yy = year % 100
        if year < 2000:
            ind = rng.randint(0, 499) if rng.random() < 0.7 else rng.randint(900, 999) if year >= 1940 else rng.randint(0, 499)
        else:
            ind = rng.randint(500, 999)
        dd = day + 40 if kind == "d" else day
        mm = month + 40 if kind == "h" else month
        n = g.fnr("%02d%02d%02d%03d" % (dd, mm, yy, ind))
        if n:
            return n


def random_account(rng):
    while True:
        n = g.account("%010d" % rng.randint(10 ** 9, 10 ** 10 - 1))
        if n:
            return n


def century(n):
    """The century a national ID's individual number gives its two-digit year."""
    yy, individual = int(n[4:6]), int(n[6:9])
    if individual <= 499:
        return 1900
    if individual <= 749 and yy >= 54:
        return 1800
    if yy <= 39:
        return 2000
    return 1900


def written(rng, n):
    form = rng.randrange(10)
    if form == 0:
        return n
    if form == 1:
        return n[:6] + " " + n[6:]
    if form == 2:
        return n[:6] + "-" + n[6:]
    if form == 3:
        return "%s.%s.%s %s" % (n[:2], n[2:4], n[4:6], n[6:])
    if form == 4:
        return n[:6] + "\u00a0" + n[6:]
    if form == 5:
        return n[:6] + "\u2009" + n[6:]
    if form == 6:
        return n[:6] + "\n" + n[6:]
    if form == 7:
        return n[:6] + "\u202f" + n[6:]
    if form == 8 and int(n[:2]) <= 31 and int(n[2:4]) <= 12:
        # The birth date with its four-digit year (not for D/H-numbers).
        return "%s.%s.%d %s" % (n[:2], n[2:4], century(n) + int(n[4:6]), n[6:])
    return n


ID_CONTEXTS = [
    "Fødselsnummer: {v}", "fnr {v}", "Personnr. {v}", "Hennes fødselsnr er {v}.", "D-nummer: {v}",
    "Her er personnummeret mitt: {v}", "{v}", "Ansatt: Kari Nordmann, {v}", "Opplysninger: {v} (Ola)",
    "Kan du registrere {v} i systemet?", "Søker: {v}", "Pasient {v} ble undersøkt", "ID {v}",
    "national identity number {v}", "Her: {v}. Takk!",
]
FILLER = [
    "Hei,", "Takk for sist.", "Som avtalt sender jeg opplysningene.", "Gi beskjed om noe mangler.",
    "Møtet er flyttet til torsdag kl 10.", "Ha en fin dag!", "Mvh\nKari", "Hilsen Ola",
    "Se vedlagt dokument.", "Vi har fått henvendelsen og kommer tilbake.", "Prosjektet går etter planen.",
    "Kan du se på dette før fredag?", "Budsjettet er godkjent.", "Ring meg på 912 34 567 om noe er uklart.",
]
NEGATIVE_CONTEXTS = [
    "KID: {n}", "Fakturanr. {n}", "Ordrenummer {n}", "Sporingsnummer: {n}", "Kundenr {n}",
    "Referanse {n}", "Saksnr. {n}", "Avtalenummer {n}", "Tlf 22 33 44 55", "Org.nr 921 760 515",
    "NO 974 760 673 MVA", "Sendingsnummer {n}", "Bestillingsnummer: {n}",
]
HEALTH_POS = [
    "Jeg er sykmeldt resten av uka.", "Legeerklæringen er vedlagt.", "Hun har fått diagnosen diabetes.",
    "Han er innlagt på sykehus etter operasjonen.", "Jeg har legetime i morgen kl 9 og kommer senere.",
    "Sykmeldingen gjelder fra mandag.", "Vi må ha dialogmøte om oppfølgingsplanen.",
    "Jeg er gravid og trenger tilrettelegging.", "Jeg er syk i dag og blir hjemme.",
    "Egenmelding for tre dager.", "I'm on sick leave until Friday.", "She was diagnosed with cancer last month.",
    "Jeg går til psykolog annenhver uke.", "Epikrisen fra sykehuset kom i dag.",
    "Han har fått uføretrygd fra NAV.", "Jeg har fastlegetime og trenger henvisning til spesialist.",
    "Datteren min er syk, så jeg har egenmelding for sykt barn.", "Meldt syk i dag, beklager.",
    "Jeg må til legen i morgen tidlig.", "Har vondt i ryggen og jobber hjemmefra.", "Gutten har feber, blir hjemme.",
    "Jeg føler meg dårlig og går hjem.", "I need to see a doctor this afternoon.", "She is in hospital after the accident.",
    "Jeg har migrene og går hjem.", "Jeg tar egenmelding i dag.", "Jeg er hos fysioterapeut hver torsdag.",
    "Han er langtidssyk.", "Hun har diabetes og må spise regelmessig.", "I'm going to the dentist at 2pm.",
    "My son is ill, working from home.", "I broke my arm skiing.",
]
HEALTH_NEG = [
    "Velkommen til HMS-dagen: helse, miljø og sikkerhet.", "Les om behandling av personopplysninger.",
    "Dersom du er syk, følg rutinene i personalhåndboka.", "The health check endpoint is failing.",
    "Vi må diagnose the problem with the load balancer.", "Tema for samlingen er psykologisk trygghet.",
    "Behandling av søknaden tar to uker.", "Møterom 3 i Kirkegata 5.", "Høyre side av bygget er stengt.",
    "Treatment of missing values in the dataset.", "System health is green.",
    "Sykkelparkeringen er flyttet.", "Søknaden er til behandling hos NAV.",
    "Sykepenger utbetales fra dag 17 etter arbeidsgiverperioden.", "Legevakten har nytt telefonnummer.",
    "Kurs om psykologiske kontrakter i arbeidslivet.",
    "Vi minner om rutiner for sykmelding og egenmelding i personalhåndboka.",
    "Tilbud om influensavaksine til alle ansatte torsdag.", "Sykefraværet i avdelingen var 4,2 % i oktober.",
    "Vi lanserer ny app for pasientjournal i helseforetaket.", "Møte på sykehuset neste uke om leveransen.",
    "The board is ill-prepared for this.", "The doctor role in Kubernetes runs health probes.",
]


def b64(data):
    import base64
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def qp(text):
    import quopri
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def build(rng, i):
    """Returns (raw message, set of planted IDs, health label)."""
    ids = set()
    lines = [rng.choice(FILLER)]
    health = False
    kind = rng.random()
    # 40% of messages carry one or two national IDs.
    if kind < 0.4:
        for _ in range(rng.choice((1, 1, 2))):
            n = random_person(rng, rng.choice(("fnr", "fnr", "fnr", "d", "h")))
            ids.add(n)
            lines.append(rng.choice(ID_CONTEXTS).format(v=written(rng, n)))
    # Look-alike negatives in 50%.
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 3)):
            tpl = rng.choice(NEGATIVE_CONTEXTS)
            n = random_person(rng) if rng.random() < 0.5 else "%011d" % rng.randint(10 ** 10, 10 ** 11 - 1)
            lines.append(tpl.format(n=n))
        if rng.random() < 0.3:
            acc = random_person(rng)  # passes MOD11 too: account form decides
            lines.append("Kontonummer %s.%s.%s" % (acc[:4], acc[4:6], acc[6:]))
        if rng.random() < 0.2:
            lines.append("Tidsstempel %d" % rng.randint(10 ** 13, 10 ** 14))
        if rng.random() < 0.2:
            lines.append("Sporing 70%s42" % random_person(rng))
        if rng.random() < 0.2:
            t = g.first_fnr("%02d%02d%02d" % (rng.randint(1, 28), rng.randint(1, 12) + rng.choice((65, 80)), rng.randint(50, 99)))
            lines.append("Testperson %s" % t)
    h = rng.random()
    if h < 0.2:
        health = True
        lines.append(rng.choice(HEALTH_POS))
    elif h < 0.5:
        lines.append(rng.choice(HEALTH_NEG))
    rng.shuffle(lines[1:]) if len(lines) > 2 else None
    lines.append(rng.choice(FILLER))
    text = "\n\n".join(lines) + "\n"
    subject = "Sak %d" % i
    # Sometimes the ID goes in the subject instead.
    if ids and rng.random() < 0.05:
        n = sorted(ids)[0]
        from email.header import Header
        subject = Header("Opplysninger %s" % n[:6] + " " + n[6:], "utf-8").encode()
    headers = ("Message-ID: <q%d@quality.test>\nDate: Mon, 02 Jun 2025 09:30:00 +0200\nFrom: a@firma.example\n"
               "To: b@firma.example\nSubject: %s\nMIME-Version: 1.0\n" % (i, subject))
    container = rng.randrange(10)
    if container == 0:
        body = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(text)
    elif container == 1:
        body = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64(text.encode())
    elif container == 2:
        html = "<html><body>" + "".join("<p>%s</p>" % l.replace("\u00a0", "&nbsp;").replace("\n", "<br>") for l in text.split("\n\n")) + "</body></html>"
        body = "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + qp(html)
    elif container in (3, 4, 5, 6):
        kind = ["docx", "xlsx", "pdf", "zip"][container - 3]
        if kind == "docx":
            data = g.docx([[l[: len(l) // 2], l[len(l) // 2:]] for l in text.split("\n\n")])
            name, ctype = "dok.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        elif kind == "xlsx":
            cells = [[("inline", l.replace("&", "og"))] for l in text.replace("\n", " ").split("  ")]
            data = g.xlsx([], cells)
            name, ctype = "ark.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        elif kind == "pdf":
            ascii = text.replace("\u2009", " ").replace("\u202f", " ").encode("latin-1", "replace").decode("latin-1").replace("(", "[").replace(")", "]").replace("\\", "/")
            data = g.pdf([l for l in ascii.replace("\u00a0", " ").split("\n") if l.strip()])
            name, ctype = "skjema.pdf", "application/pdf"
        else:
            data = g.zip_bytes([("notat.txt", text.encode("utf-8"))])
            name, ctype = "vedlegg.zip", "application/zip"
        body = ('Content-Type: multipart/mixed; boundary="m"\n\n--m\nContent-Type: text/plain; charset=utf-8\n\nSe vedlegg.\n'
                '--m\nContent-Type: %s; name="%s"\nContent-Disposition: attachment; filename="%s"\n'
                "Content-Transfer-Encoding: base64\n\n%s\n--m--\n" % (ctype, name, name, b64(data)))
    elif container == 7:
        inner = "From: c@x.example\nSubject: Original\nContent-Type: text/plain; charset=utf-8\n\n" + text
        body = ('Content-Type: multipart/mixed; boundary="f"\n\n--f\nContent-Type: text/plain\n\nVideresender.\n'
                '--f\nContent-Type: message/rfc822\n\n%s\n--f--\n' % inner)
    else:
        body = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text
    return (headers + body).encode("utf-8"), ids, health


def fingerprint(value):
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 11)
    binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "mailhygiene")
    truth = {}
    raws = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(tmp, sub))
        for i in range(count):
            raw, ids, health = build(rng, i)
            truth["<q%d@quality.test>" % i] = (ids, health)
            raws["<q%d@quality.test>" % i] = raw
            with open(os.path.join(tmp, "cur", "%d.q:2,S" % i), "wb") as f:
                f.write(raw)
        env = dict(os.environ, MAILHYGIENE_FINGERPRINT_KEY=KEY)
        out = subprocess.run([binary, "scan", "maildir:" + tmp, "--no-state", "--format", "jsonl", "--quiet", "--as-of", "2026-11-25"],
                             capture_output=True, env=env, check=False)
    text = out.stdout.decode()
    found_ids = {}
    found_health = set()
    for line in text.splitlines():
        r = json.loads(line)
        if r["type"] != "sensitive":
            continue
        if r["detector"] in ID_DETECTORS:
            found_ids.setdefault(r["message_id"], set()).add(r["fingerprint"])
        if r["detector"] == "special_category.health":
            found_health.add(r["message_id"])
    tp = fp = fn = 0
    htp = hfp = hfn = 0
    misses, false_alarms = [], []
    for mid, (ids, health) in truth.items():
        want = {fingerprint(v): v for v in ids}
        got = found_ids.get(mid, set())
        tp += len(set(want) & got)
        fn += len(set(want) - got)
        fp += len(got - set(want))
        if set(want) - got:
            misses.append(mid)
        if got - set(want):
            false_alarms.append(mid)
        if health and mid in found_health:
            htp += 1
        elif health:
            hfn += 1
        elif mid in found_health:
            hfp += 1
    leaks = sum(1 for ids, _ in truth.values() for v in ids if v in text)
    p = tp / max(tp + fp, 1)
    r = tp / max(tp + fn, 1)
    hp = htp / max(htp + hfp, 1)
    hr = htp / max(htp + hfn, 1)
    print("messages %d, exit status %d" % (count, out.returncode))
    print("national IDs: precision %.4f recall %.4f (tp %d, fp %d, fn %d)" % (p, r, tp, fp, fn))
    print("health:       precision %.4f recall %.4f (tp %d, fp %d, fn %d)" % (hp, hr, htp, hfp, hfn))
    print("clear-text values in the output: %d" % leaks)
    if misses:
        print("first misses:", misses[:10])
    if false_alarms:
        print("first false alarms:", false_alarms[:10])
    if os.environ.get("QUALITY_DEBUG"):
        health_fp = [m for m, (_, h) in truth.items() if not h and m in found_health]
        health_fn = [m for m, (_, h) in truth.items() if h and m not in found_health]
        for title, mids in (("MISS", misses), ("FALSE ALARM", false_alarms), ("HEALTH FP", health_fp), ("HEALTH FN", health_fn)):
            os.makedirs("/tmp/quality-debug", exist_ok=True)
            for mid in mids[:6]:
                print("=====", title, mid, sorted(truth[mid][0]))
                print(raws[mid].decode("utf-8", "replace")[:1500])
                with open("/tmp/quality-debug/%s-%s.eml" % (title.replace(" ", "_"), mid.strip("<>")), "wb") as f:
                    f.write(raws[mid])


if __name__ == "__main__":
    main()
