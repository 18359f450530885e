#!/usr/bin/env python3
"""Detection on real text nobody here wrote (issue 27's regression set).

usage: real_text.py [COUNT] [SEED] [BINARY]   (run from the repository root;
                                               defaults 2000, 27, target/release)

Real text, fetched from the package registries at run time (never committed):
- public mail as other projects keep it for their tests, byte for byte:
  CPython's own `test_email` messages (on this machine with Python), the
  sdists of mail-parser 4.8.0 (SpamScope's corpus: spam, phishing, Outlook),
  talon 1.4.4 (replies from every mail client, signatures) and flanker 0.9.11
  from PyPI;
- Norwegian prose, bokmål and nynorsk: the translations Debian ships
  (`/usr/share/locale/{nb,nn}`, and the packages libc-l10n and iso-codes
  fetched with `apt-get download`), sentences people translated for users.

Into copies of it the script plants, where people put them, identifiers of
synthetic people (checksums from tests/fixtures/generate.py) in each class
issue 27 names: labelled on their line, unlabelled in a sentence, under a
signature's phone line, in plain-text tables beside a Telefon column (spaces,
tabs, semicolons), under an account label that has its own account, accounts
under a Kontonummer column, cards, Swedish, Danish and Finnish numbers with
their words; and health sentences about named people (bokmål, nynorsk,
English; third person). The real text's own digits (phones, order numbers,
prices, dates, tracking ids), spam for pills and news are the negatives:
anything else reported on a message is a false positive.

It scans the set with the binary (one-off, JSONL) and prints precision and
recall per detector and per planting class, health precision on the real
text alone, any planted value in clear, and the misses and false alarms by
message, so a change shows where it helped or hurt.
"""
import glob
import hashlib
import hmac
import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
import generate as g  # noqa: E402

KEY = "real-text-benchmark-key-0123456789"
CACHE = os.environ.get("MH_REAL_TEXT_CACHE", "/tmp/mailhygiene-realtext")
SDISTS = ["mail-parser==4.8.0", "talon==1.4.4", "flanker==0.9.11"]
DEBIAN = ["libc-l10n", "iso-codes"]
# Values the real mail holds itself, read by hand: a finding of these is
# right, not a false alarm (a Spanish IBAN under its label in a phishing
# mail of mail-parser's corpus).
KNOWN_REAL = {("mail_parser/tests/mails/mail_test_4", "iban")}


# ---------------------------------------------------------------- sources

def fetch():
    os.makedirs(CACHE, exist_ok=True)
    for spec in SDISTS:
        name = spec.split("==")[0].replace("-", "_")
        if not glob.glob(os.path.join(CACHE, name + "-*.tar.gz")):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "-d", CACHE, spec], check=True)
    debs = os.path.join(CACHE, "debs")
    if not os.path.isdir(debs):
        os.makedirs(debs + ".tmp", exist_ok=True)
        for pkg in DEBIAN:
            subprocess.run(["apt-get", "download", "-q", pkg], cwd=debs + ".tmp", check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for deb in glob.glob(os.path.join(debs + ".tmp", "*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, debs + ".tmp/root"], check=True)
        os.rename(debs + ".tmp", debs)


def looks_like_mail(data):
    head = data[:4000].decode("latin-1")
    return bool(re.search(r"(?im)^(from|subject|to|date|message-id|received|return-path):", head)) and b"\n\n" in data.replace(b"\r\n", b"\n")


def real_mail():
    """(name, bytes) of every real message the sources hold."""
    out = []
    py = os.path.join(os.path.dirname(os.__file__), "test", "test_email", "data")
    for path in sorted(glob.glob(os.path.join(py, "msg_*.txt"))):
        out.append(("cpython/" + os.path.basename(path), open(path, "rb").read()))
    for tgz in sorted(glob.glob(os.path.join(CACHE, "*.tar.gz"))):
        with tarfile.open(tgz) as t:
            for m in t.getmembers():
                if not m.isfile() or "/test" not in m.name or m.name.endswith((".py", ".json", ".pyc")):
                    continue
                data = t.extractfile(m).read()
                if 200 < len(data) < 2_000_000 and looks_like_mail(data):
                    out.append((os.path.basename(tgz).split("-")[0] + "/" + m.name.split("/", 1)[1], data))
    return out


def read_mo(path):
    """The translated strings of a gettext .mo file."""
    data = open(path, "rb").read()
    if len(data) < 28:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    n, _, trans = struct.unpack(endian + "3I", data[8:20])
    out = []
    for i in range(n):
        length, offset = struct.unpack(endian + "2I", data[trans + 8 * i: trans + 8 * i + 8])
        raw = data[offset: offset + length]
        for part in raw.split(b"\0"):
            try:
                out.append(part.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(part.decode("latin-1"))
    return out


def norwegian_prose():
    """Sentences in bokmål and nynorsk: real translations, no markup."""
    prose = {"nb": set(), "nn": set()}
    roots = ["/usr/share/locale", os.path.join(CACHE, "debs", "root", "usr", "share", "locale")]
    for root in roots:
        for lang in prose:
            for path in glob.glob(os.path.join(root, lang, "LC_MESSAGES", "*.mo")):
                for s in read_mo(path):
                    s = s.strip()
                    words = s.split()
                    if (6 <= len(words) <= 60 and "%" not in s and "{" not in s and "<" not in s
                            and "\\" not in s and not s.startswith(("-", "Usage", "Bruk:"))):
                        prose[lang].add(s)
    return {k: sorted(v) for k, v in prose.items()}


# ---------------------------------------------------------------- plants

def person(rng, kind="fnr"):
    while True:
        y = rng.randint(1945, 2004)
        dd, mm = rng.randint(1, 28), rng.randint(1, 12)
        ind = rng.randint(0, 499) if y < 2000 else rng.randint(500, 999)
        dd += 40 if kind == "d" else 0
        n = g.fnr("%02d%02d%02d%03d" % (dd, mm, y % 100, ind))
        if n:
            return n


def account(rng):
    while True:
        n = g.account("%010d" % rng.randint(10 ** 9, 10 ** 10 - 1))
        if n and not g.fnr(n[:9]) == n:
            return n


def card(rng):
    prefix = rng.choice(["4", "5%d" % rng.randint(1, 5)])
    return g.luhn_complete(prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix))))


def swedish(rng):
    while True:
        body = "%02d%02d%02d%03d" % (rng.randint(45, 99), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 999))
        full = g.luhn_complete(body)
        return full[:6] + "-" + full[6:]


def danish(rng):
    while True:
        d = "%02d%02d%02d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(40, 99))
        for _ in range(200):
            # A seventh digit of 0-3: born in the 1900s whatever the year.
            s = d + "%04d" % rng.randint(0, 3999)
            if sum(int(a) * b for a, b in zip(s, [4, 3, 2, 7, 6, 5, 4, 3, 2, 1])) % 11 == 0:
                return s[:6] + "-" + s[6:]


def finnish(rng):
    return g.hetu("%02d%02d%02d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(40, 99)), "-",
                  "%03d" % rng.randint(2, 899))


NAMES = ["Kari Nordmann", "Ola Hansen", "Ingrid Berg", "Per Olsen", "Anne Lie", "Jonas Dahl", "Sara Moe"]


def plant(rng, cls):
    """(text to insert, [(detector, canonical)]) for one planting class."""
    name = rng.choice(NAMES)
    if cls == "id-labelled":
        v = person(rng)
        frame = rng.choice(["Fødselsnummer: {v}", "fnr {v}", "Personnummeret til {n} er {v}.", "F.nr. {v}",
                            "Fødselsnummeret hennes: {v}", "national identity number {v}", "Personnr {v}"])
        return frame.format(v=v, n=name), [("no.fodselsnummer", v)]
    if cls == "id-unlabelled":
        v = person(rng)
        return rng.choice(["Her er den: {v}", "{n}, {v}", "Registrer {v} i systemet.", "{v}"]).format(v=v, n=name), \
            [("no.fodselsnummer", v)]
    if cls == "id-under-phone-line":
        v = person(rng)
        return "Mvh\n%s\nTlf. %d %02d %02d %02d\n%s" % (name, rng.randint(22, 99), rng.randrange(100), rng.randrange(100),
                                                         rng.randrange(100), v), [("no.fodselsnummer", v)]
    if cls == "id-after-phone-word":
        v = person(rng)
        return "Please phone me when you have checked the papers; the one I mean is %s." % v, [("no.fodselsnummer", v)]
    if cls.startswith("table-"):
        rows = [(rng.choice(NAMES), "%d%07d" % (rng.choice([4, 9]), rng.randrange(10 ** 7)), person(rng)) for _ in range(3)]
        if cls == "table-spaces":
            body = "%-16s %-12s %s\n" % ("Navn", "Telefon", "Merknad") + "".join("%-16s %-12s %s\n" % r for r in rows)
        elif cls == "table-tabs":
            body = "Navn\t\tTelefon\t\tMerknad\n" + "".join("%s\t%s\t%s\n" % r for r in rows)
        else:
            body = "Navn;Telefon;Merknad\n" + "".join("%s;%s;%s\n" % r for r in rows)
        return body, [("no.fodselsnummer", r[2]) for r in rows]
    if cls == "id-under-account":
        a, v = account(rng), person(rng)
        return "Kontonummer: %s.%s.%s\n%s" % (a[:4], a[4:6], a[6:], v), [("no.bank_account", a), ("no.fodselsnummer", v)]
    if cls == "account-labelled":
        a = account(rng)
        f = rng.choice(["Kontonummer: {a4}.{a2}.{a5}", "Beløpet betales til konto {a}", "Kontonr. {a4} {a2} {a5}",
                        "bank account number {a}"])
        return f.format(a=a, a4=a[:4], a2=a[4:6], a5=a[6:]), [("no.bank_account", a)]
    if cls == "account-column":
        rows = [(rng.choice(NAMES), person(rng), "%d" % rng.randint(100, 9999)) for _ in range(3)]
        body = "%-16s %-14s %s\n" % ("Navn", "Kontonummer", "Beløp") + "".join("%-16s %-14s %s\n" % r for r in rows)
        return body, [("no.bank_account", r[1]) for r in rows]
    if cls == "card":
        c = card(rng)
        f = rng.choice(["Kortnummer: {g}", "card number {c}", "Visa {g}, utløper 09/27"])
        grouped = " ".join(c[i:i + 4] for i in range(0, 16, 4))
        return f.format(c=c, g=grouped), [("payment_card", c)]
    if cls == "nordic":
        which = rng.randrange(3)
        if which == 0:
            v = swedish(rng)
            return "Svenskt personnummer: %s" % v, [("se.personnummer", v.replace("-", ""))]
        if which == 1:
            v = danish(rng)
            return "Dansk CPR-nr. %s" % v, [("dk.cpr", v.replace("-", ""))]
        v = finnish(rng)
        return "Finsk henkilötunnus %s" % v, [("fi.hetu", v)]
    raise ValueError(cls)


HEALTH = [
    "{n} er sykmeldt resten av uka etter operasjonen i kneet.", "{n} har fått diagnosen diabetes type 2.",
    "{n} er innlagd på sjukehuset og blir der over helga.", "{n} er sjukmeld fram til fredag.",
    "{n} broke his leg skiing and will be off for six weeks.", "{n} was diagnosed with epilepsy last year.",
    "{n} er under utredning for MS.", "{n} is on antidepressants and asked for a quieter desk.",
    "{n} has coeliac disease, so order gluten-free lunch for the meeting.",
    "{n} skal til MR av ryggen på tirsdag og kommer etterpå.", "{n} går til fysioterapeut to ganger i uka.",
    "{n} fikk et epileptisk anfall på jobben i går.",
]
# Written after the vocabulary was extended, and never tuned to: how the
# health detector does on phrasings it was not built from.
HEALTH_HELDOUT = [
    "{n} fikk hjerneslag i helga og ligger på Ullevål.", "{n} has been off work since her hip replacement.",
    "{n} tar blodtrykksmedisin og må ha pauser.", "{n} har ME og jobber redusert.",
    "My colleague {n} was admitted with appendicitis on Sunday.", "{n} fekk påvist brystkreft i fjor haust.",
    "{n} has been struggling with depression since the spring.", "{n} venter på svar på biopsien.",
    "{n} is recovering from a heart attack.", "{n} er gravid i femte måned.",
    "{n} har brukket armen og kan ikke skrive.", "{n} går til psykolog hver tirsdag.",
]
# A second held-out set, written (and committed) before the vocabulary was
# tuned to the first one's misses: the honest measure after that tuning.
HEALTH_HELDOUT_2 = [
    "{n} is in hospital after a bad fall on the ice.", "{n} has been signed off with stress for a month.",
    "{n} ligg på sjukehus etter eit hjerneslag.", "{n} har fått kreft og startar cellegift neste veke.",
    "{n} had her gallbladder removed on Monday.", "{n} er sykemeldt etter en ulykke i helgen.",
    "{n} is being treated for a heart condition.", "{n} har vondt i ryggen og går til behandling.",
    "{n} suffers from severe migraines and needs a dark office.", "{n} fikk påvist glutenintoleranse i vår.",
    "{n} tested positive for covid yesterday.", "{n} har fått hjerteinfarkt og er innlagt.",
]
# A third held-out set, written (and committed, 2026-12-08) before the
# vocabulary was tuned to the second one's misses, and not looked at since:
# the honest measure after that tuning.
HEALTH_HELDOUT_3 = [
    "{n} is off sick with pneumonia this week.", "{n} has just been diagnosed with type 1 diabetes.",
    "{n} is having knee surgery on Thursday.", "{n} has a slipped disc and is working from home.",
    "{n} was rushed to A&E with chest pains last night.",
    "{n}'s cancer has come back, so she is starting radiotherapy.",
    "{n} har fått påvist høyt blodtrykk og må ta det med ro.", "{n} ligger på sykehus med lungebetennelse.",
    "{n} er operert i skulderen og er borte to uker.", "{n} har slitt med angst lenge og er nå i behandling.",
    "{n} går på antidepressiva og ønsker hjemmekontor.", "{n} er sjukmeld med ryggprolaps.",
    "{n} har fått diagnosen leddgikt og treng tilrettelegging.", "{n} er innlagd etter eit hjarteinfarkt.",
    "{n} skal opererast for grå stær neste månad.", "{n} har vore sjuk med influensa heile veka.",
]
# A fourth held-out set, written and committed (2026-12-08) before anyone
# tunes the vocabulary to the third set's misses, and not run since: the
# honest measure after that tuning.
HEALTH_HELDOUT_4 = [
    "{n} has been told to rest after a minor heart procedure.", "{n} is waiting for the results of a scan.",
    "{n} came back from the GP with a course of antibiotics.", "{n} needs a standing desk because of a bad back.",
    "{n} is pregnant with twins and will go on leave in March.",
    "{n} is recovering at home after an operation on her wrist.",
    "{n} har fått konstatert beinskjørhet.", "{n} er til kontroll etter brystkreftbehandlingen.",
    "{n} har vært hos legen med brystsmerter.", "{n} er borte i dag, hun har omgangssyke.",
    "{n} bruker insulinpumpe og må spise til faste tider.", "{n} har fått påvist søvnapné og bruker CPAP.",
    "{n} har brote foten og går med krykker.", "{n} er til behandling for rusproblem.",
    "{n} har fått ny hofte og er heime i seks veker.", "{n} venter på operasjon for kneskaden sin.",
]
# A fifth held-out set, written and committed (2026-12-08) before anyone
# looks at the fourth set's misses, and not run since.
HEALTH_HELDOUT_5 = [
    "{n} is off for a few weeks after giving birth.", "{n} has been in and out of hospital all autumn.",
    "{n} was told by her doctor to stay home until the fever is gone.",
    "{n} takes medication for epilepsy and cannot drive.", "{n} is on long-term sick leave with burnout.",
    "{n} has an eye operation booked for Friday.",
    "{n} har fått beskjed om å holde seg hjemme til feberen har gått ned.",
    "{n} er på rehabilitering etter hjerneslaget.", "{n} har hatt kreft og er nå friskmeldt.",
    "{n} går til kontroll hos kardiologen hver måned.", "{n} er hjemme med influensa og feber.",
    "{n} er sjukmeld etter ein operasjon i kneet.", "{n} har fått påvist diabetes og må ta insulin.",
    "{n} er i permisjon etter fødselen.", "{n} har ein kronisk sjukdom og treng fleksibel arbeidstid.",
    "{n} ligg inne på Haukeland med lungebetennelse.",
]
# A sixth held-out set, written and committed (2026-12-08) before anyone
# looks at the fifth set's misses or tries the next lever (a named person
# with a medium term in one sentence), and not run since.
HEALTH_HELDOUT_6 = [
    "{n} is having chemotherapy and will work reduced hours.",
    "{n} broke two ribs skiing and is off until Easter.",
    "{n} has an appointment with the psychiatrist on Tuesday.",
    "{n} was admitted to A&E last night with chest pains.",
    "{n} is allergic to nuts and carries an EpiPen.",
    "{n} is recovering from a concussion and must avoid screens.",
    "{n} har fått hjernerystelse og må skjerme seg for skjermbruk.", "{n} er sykmeldt på grunn av angst.",
    "{n} tar blodtrykksmedisin og blir fort svimmel.", "{n} skal opereres for grå stær neste uke.",
    "{n} har vært innlagt på psykiatrisk avdeling.",
    "{n} går til fysioterapeut for skulderen to ganger i uka.",
    "{n} har fått diagnosen ADHD og får tilrettelegging.", "{n} er gravid i femte månad og har bekkenløysing.",
    "{n} har vore på sjukehuset for å ta ei biopsi.",
    "{n} fekk hjarteinfarkt i fjor og er framleis i redusert stilling.",
]
# Negatives written with the third held-out set, before that tuning.
FIGURATIVE_2 = [
    "The team is suffering from a bad case of Monday blues.",
    "Our sales figures are in intensive care after Q3.", "Vi må operere raskt hvis vi skal vinne anbudet.",
    "Prosjektet har fått en kraftig forkjølelse etter budsjettkuttet.",
    "Webinar: mental health first aid at work, Thursday 10:00.", "Kampanje: Sjekk føflekkene dine i sommer!",
    "Til alle: influensavaksine tilbys på kontoret tirsdag.",
    "The server crashed again; the config needs surgery.", "Styret er lammet av uenighet.",
    "Stort salg på vitaminer og kosttilskudd denne uka!",
    "Research shows exercise lowers the risk of depression.",
    "Ny rapport: sykefraværet i bransjen falt i tredje kvartal.",
]
# Health words that are not a person's health: figurative, general, news,
# advertising, unnamed groups.
FIGURATIVE = [
    "Markedet er i en depresjon etter rentehoppet.", "I'm sick and tired of these printer problems.",
    "The newspaper ran a bipolar editorial line all year.",
    "Ny studie: kaffe kan redusere risikoen for diabetes.",
    "Buy cheap Viagra and Cialis online, no prescription needed!",
    "Several friends who are pregnant recommended this stroller.",
    "Webinar om psykisk helse på arbeidsplassen torsdag kl 12.",
    "This release fixes a crash under heavy load; the patient retry logic was improved.",
    "Vi har operert i markedet i 20 år.", "The economy caught a cold after the election.",
    "Kreftforeningen takker for gaven din.", "Influensasesongen er her: husk å vaske hendene.",
]
# (roll below, health class or None for a negative, sentences), in order.
ROLLS = [
    (0.2, "health-tuned", HEALTH), (0.35, "health-held-out", HEALTH_HELDOUT),
    (0.42, "health-held-out-2", HEALTH_HELDOUT_2), (0.49, "health-held-out-3", HEALTH_HELDOUT_3),
    (0.64, None, FIGURATIVE + FIGURATIVE_2), (0.71, "health-held-out-4", HEALTH_HELDOUT_4),
    (0.78, "health-held-out-5", HEALTH_HELDOUT_5), (0.85, "health-held-out-6", HEALTH_HELDOUT_6),
]
CLASSES = ["id-labelled", "id-unlabelled", "id-under-phone-line", "id-after-phone-word", "table-spaces",
           "table-tabs", "table-semicolons", "id-under-account", "account-labelled", "account-column", "card",
           "nordic"]


def insert(rng, body, addition):
    paragraphs = body.split("\n\n")
    at = rng.randrange(len(paragraphs) + 1)
    return "\n\n".join(paragraphs[:at] + [addition] + paragraphs[at:])


def text_of_mail(raw):
    """A real message's headers and its first text part (decoded), or None."""
    import email
    import email.policy
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        if part is None:
            return None
        return msg, part.get_content()
    except Exception:  # noqa: BLE001 - real mail is allowed to be broken
        return None


def message(i, subject, body):
    return ("Message-ID: <r%d@realtext.test>\nDate: Mon, 02 Jun 2025 09:30:00 +0200\nFrom: a@firma.example\n"
            "To: b@firma.example\nSubject: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n%s\n" % (i, subject.replace("\n", " ")[:200], body)).encode("utf-8")


def build(count, rng):
    fetch()
    mails = real_mail()
    prose = norwegian_prose()
    texts = [t for t in (text_of_mail(raw) for _, raw in mails) if t]
    items = []  # (id, bytes, truth ids, health planted, origin)
    # Every real message once as it is (a Message-ID of ours put first, to
    # name it in the output): its own digits are the negatives.
    for name, raw in mails:
        mid = "<orig-%d@realtext.test>" % len(items)
        items.append((mid, b"Message-ID: " + mid.encode() + b"\n" + raw, [], False,
                      "real-mail:" + name))
    i = 0
    while len(items) < count:
        i += 1
        source = rng.choice(["mail", "nb", "nn"]) if texts else rng.choice(["nb", "nn"])
        if source == "mail":
            msg, body = rng.choice(texts)
            subject = str(msg.get("subject", "") or "")
        else:
            paragraphs = []
            for _ in range(rng.randint(2, 6)):
                paragraphs.append(" ".join(rng.sample(prose[source], min(len(prose[source]), rng.randint(1, 3)))))
            body, subject = "\n\n".join(paragraphs), paragraphs[0][:60]
        cls = rng.choice(CLASSES)
        addition, truth = plant(rng, cls)
        roll = rng.random()
        health = None
        # Shares of the rolls, in order: each health set, or a negative.
        for upto, name, sentences in ROLLS:
            if roll < upto:
                if name is None:
                    # A negative, in its own paragraph: no identifier beside it.
                    body = insert(rng, body, rng.choice(sentences))
                else:
                    health = name
                    addition += "\n\n" + rng.choice(sentences).format(n=rng.choice(NAMES))
                break
        items.append(("<r%d@realtext.test>" % i, message(i, subject, insert(rng, body, addition)), truth,
                      health or ("figurative" if roll < 0.64 else None), "%s:%s" % (source, cls)))
    return items, len(mails), {k: len(v) for k, v in prose.items()}


# ---------------------------------------------------------------- scoring

def canonical(detector, value):
    if detector == "fi.hetu":
        return value.upper()
    return re.sub(r"\D", "", value)


def fingerprint(value):
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 27)
    binary = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "target", "release", "mailhygiene")
    items, real_count, prose_count = build(count, rng)
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(tmp, sub))
        for k, (mid, raw, _, _, _) in enumerate(items):
            with open(os.path.join(tmp, "cur", "%d.r:2,S" % k), "wb") as f:
                f.write(raw)
        env = dict(os.environ, MAILHYGIENE_FINGERPRINT_KEY=KEY)
        out = subprocess.run([binary, "scan", "maildir:" + tmp, "--no-state", "--format", "jsonl", "--quiet",
                              "--as-of", "2026-11-25"], capture_output=True, env=env, check=False)
    found = {}
    health_found = set()
    text = out.stdout.decode("utf-8", "replace")
    for line in text.splitlines():
        r = json.loads(line)
        if r["type"] != "sensitive":
            continue
        mid = r.get("message_id", "")
        if r["detector"] == "special_category.health":
            health_found.add(mid)
        elif not r["detector"].startswith("special_category"):
            found.setdefault(mid, set()).add((r["detector"], r["fingerprint"]))
    per_detector, per_class = {}, {}
    false_alarms, misses = [], []

    def bump(table, k, what):
        table.setdefault(k, {"tp": 0, "fp": 0, "fn": 0, "tn": 0})[what] += 1

    htp = hfp = hfn = hfp_real = 0
    health_misses = []
    health_classes = {}
    for mid, raw, truth, health, origin in items:
        want = {(d, fingerprint(canonical(d, v))) for d, v in truth}
        got = found.get(mid, set())
        cls = origin.split(":", 1)[1] if ":" in origin else origin
        if origin.startswith("real-mail:"):
            cls = "real mail as written"
            real = origin.split(":", 1)[1]
            want |= {(d, f) for d, f in got if (real, d) in KNOWN_REAL}
        for d, f in want:
            if (d, f) in got:
                bump(per_detector, d, "tp")
                bump(per_class, cls, "tp")
            else:
                bump(per_detector, d, "fn")
                bump(per_class, cls, "fn")
                misses.append((origin, mid, d))
        for d, f in got - want:
            bump(per_detector, d, "fp")
            bump(per_class, cls, "fp")
            false_alarms.append((origin, mid, d))
        hcls = health if health and health != "figurative" else ("figurative" if health else
                                                                   "real mail as written" if origin.startswith("real-mail")
                                                                   else "no health words planted")
        positive = health in [name for _, name, _ in ROLLS if name]
        if positive and mid in health_found:
            htp += 1
            bump(health_classes, hcls, "tp")
        elif positive:
            hfn += 1
            bump(health_classes, hcls, "fn")
            health_misses.append(mid)
        elif mid in health_found:
            hfp += 1
            bump(health_classes, hcls, "fp")
            false_alarms.append((origin, mid, "special_category.health"))
            if origin.startswith("real-mail"):
                hfp_real += 1
        else:
            bump(health_classes, hcls, "tn")
    leaks = sum(1 for _, _, truth, _, _ in items for _, v in truth if v in text)
    pr = lambda c: (c["tp"] / max(c["tp"] + c["fp"], 1), c["tp"] / max(c["tp"] + c["fn"], 1))  # noqa: E731
    print("real text: %d messages (%d real mail as written, prose strings nb %d, nn %d), exit status %d"
          % (len(items), real_count, prose_count["nb"], prose_count["nn"], out.returncode))
    print("\n%-22s %9s %9s %5s %5s %5s" % ("detector", "precision", "recall", "tp", "fp", "fn"))
    for d, c in sorted(per_detector.items()):
        p, r = pr(c)
        print("%-22s %9.3f %9.3f %5d %5d %5d" % (d, p, r, c["tp"], c["fp"], c["fn"]))
    print("\n%-22s %9s %9s %5s %5s %5s" % ("class", "precision", "recall", "tp", "fp", "fn"))
    for k, c in sorted(per_class.items()):
        p, r = pr(c)
        print("%-22s %9.3f %9.3f %5d %5d %5d" % (k, p, r, c["tp"], c["fp"], c["fn"]))
    hp, hr = htp / max(htp + hfp, 1), htp / max(htp + hfn, 1)
    print("\nhealth: precision %.3f recall %.3f (tp %d, fp %d of which on real mail as written %d, fn %d)"
          % (hp, hr, htp, hfp, hfp_real, hfn))
    print("%-24s %9s %5s %5s %5s %5s" % ("health, by class", "recall", "tp", "fn", "fp", "tn"))
    for k, c in sorted(health_classes.items()):
        r = "%9.3f" % (c["tp"] / (c["tp"] + c["fn"])) if c["tp"] + c["fn"] else "%9s" % "-"
        print("%-24s %s %5d %5d %5d %5d" % (k, r, c["tp"], c["fn"], c["fp"], c["tn"]))
    print("clear-text planted values in the output: %d" % leaks)
    if os.environ.get("MH_REAL_TEXT_DUMP"):
        # The messages behind the misses and false alarms, to read.
        wanted = {mid for _, mid, _ in misses + false_alarms} | set(health_misses)
        with open(os.environ["MH_REAL_TEXT_DUMP"], "wb") as f:
            for mid, raw, _, _, _ in items:
                if mid in wanted:
                    f.write(b"=== " + mid.encode() + b"\n" + raw + b"\n")
    for title, rows in (("misses", misses), ("false alarms", false_alarms)):
        if rows:
            print("\n%s (first 15):" % title)
            for origin, mid, d in rows[:15]:
                print("  %s %s %s" % (origin, mid, d))


if __name__ == "__main__":
    main()
