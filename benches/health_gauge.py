#!/usr/bin/env python3
"""Health detection, measured per source of terms.

usage: benches/health_gauge.py [BINARY]    (default target/release/mailhygiene)

For every vocabulary source in rules/special_categories.toml (diagnoses,
medicine groups, examinations and treatment, NAV process words) it writes
office mail about a person (positives: a colleague, a child, oneself, in the
ways people write it) and routine office mail that uses the same words
without anyone's health in it (negatives: courses, company health service
agreements, campaigns, research, prices, statistics), at least as many
negatives as positives, scans them in one Maildir and prints precision and
recall per source. Our own gauge, made from the same lists it measures: it
tells when a change to the lists or the engine moves the numbers, and which
source is weak; it is not the held-out judgement.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SUBJECTS = ["Jeg", "Kari", "Ola", "Sønnen min", "Datteren vår", "Mannen min", "Kollegaen vår Per",
            "Lise i regnskap", "Eg", "Han", "Hun"]
OPENERS = ["Hei,", "Hei alle,", "Hei Kari,", "God morgen,", "Hallo,"]
CLOSERS = ["Hilsen Ola", "Mvh Kari", "Takk for forståelsen.", "Beklager kort varsel.", "Vi snakkes."]
REASONS = ["og blir hjemme i dag", "og er borte resten av uka", "så jeg må flytte møtet",
           "og jobber hjemmefra", "så vi må finne en vikar", ""]
# Routine office mail that names the word: none of it is about a person.
NEUTRAL_ONLY = [
    "Ny artikkel på intranettet: slik påvirker {t} arbeidslivet.",
    "Nasjonal statistikk: {t} øker blant unge voksne.",
    "Kantina har temauke med fokus på {t} og kosthold.",
    "Leverandøren har lansert et nytt produkt for {t}.",
    "Se vedlagt brosjyre fra Helsedirektoratet om {t}.",
]
ROUTINE = [
    "Bedriftshelsetjenesten kommer på vernerunde torsdag. Avtalen med BHT er fornyet for 2027.",
    "Påmelding til førstehjelpskurs og hjerte- og lungeredning er åpen til fredag.",
    "Influensavaksinering for alle ansatte skjer i kantina 12. november.",
    "Arbeidsmiljøundersøkelsen sendes ut neste uke; svarene er anonyme.",
    "Husk ergonomisk gjennomgang av arbeidsplassene i 3. etasje.",
    "Helseforsikringen er forlenget; se personalhåndboka for vilkår.",
    "Rutiner for oppfølging av sykmeldte er oppdatert i HMS-håndboka.",
    "Sykefraværsstatistikken for tredje kvartal ligger på intranettet.",
]


def lemmas(source):
    for entry in source["terms"]:
        lemma = entry.rsplit(":", 1)[0]
        if not lemma.startswith("*"):
            yield lemma


def message(i, body):
    return ("Message-ID: <h%d@gauge.test>\r\nSubject: Info\r\nFrom: a@example.test\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n" % (i, body)).encode()


def build(sources, rng):
    """(message-id, source name, is health, body) for every case."""
    cases = []
    for source in sources:
        name = source["name"]
        frames = source.get("frames", [])
        neutral = source.get("neutral", [])
        for lemma in lemmas(source):
            if frames and "English" in name:
                frame = rng.choice(frames).replace("{}", lemma)
                cases.append((name, True, "Hi,\n\nJust so you know: %s, so I'm working from home.\n\nBest, Kari" % frame))
            elif frames:
                frame = rng.choice(frames).replace("{}", lemma)
                subject = rng.choice(SUBJECTS)
                verb = "" if frame.split()[0] in ("har", "fikk", "bruker", "tar", "lider", "sliter", "går", "står", "skal", "må", "tok", "var") else "er "
                body = "%s\n\n%s %s%s %s.\n\n%s" % (rng.choice(OPENERS), subject, verb, frame,
                                                   rng.choice(REASONS), rng.choice(CLOSERS))
                cases.append((name, True, body))
            # Two negatives per lemma: a neutral frame, and a bare mention
            # in routine mail with a routine health-service line beside it.
            if neutral:
                n = rng.choice(neutral).replace("{}", lemma)
                cases.append((name, False, "%s\n\nVelkommen til %s torsdag kl. 12 i kantina.\n\n%s" % (
                    rng.choice(OPENERS), n, rng.choice(CLOSERS))) if "English" not in name else
                    (name, False, "Hi all,\n\nJoin us for %s on Thursday at noon.\n\nBest, HR" % n))
            cases.append((name, False, "%s\n\n%s\n%s\n\n%s" % (
                rng.choice(OPENERS), rng.choice(NEUTRAL_ONLY).replace("{t}", lemma),
                rng.choice(ROUTINE), rng.choice(CLOSERS))))
    return cases


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/mailhygiene")
    with open(os.path.join(ROOT, "rules/special_categories.toml"), "rb") as f:
        rules = tomllib.load(f)
    sources = rules["categories"]["health"].get("vocabulary", [])
    rng = random.Random(11)
    cases = build(sources, rng)
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(tmp, sub))
        for i, (_, _, body) in enumerate(cases):
            with open(os.path.join(tmp, "cur", "%d.gauge:2,S" % i), "wb") as f:
                f.write(message(i, body))
        env = dict(os.environ, MAILHYGIENE_FINGERPRINT_KEY="gauge-key-0123456789")
        out = subprocess.run([binary, "scan", "maildir:" + tmp, "--no-state", "--format", "jsonl", "--quiet",
                              "--as-of", "2026-11-25"], capture_output=True, env=env, check=False)
    flagged = set()
    for line in out.stdout.decode().splitlines():
        r = json.loads(line)
        if r.get("detector") == "special_category.health":
            flagged.add(r["message_id"])
    print("%-36s %5s %5s %9s %6s" % ("source", "pos", "neg", "precision", "recall"))
    totals = [0, 0, 0, 0, 0]
    misses = []
    for source in sources:
        name = source["name"]
        tp = fp = fn = pos = neg = 0
        for i, (src, health, body) in enumerate(cases):
            if src != name:
                continue
            hit = "<h%d@gauge.test>" % i in flagged
            pos += health
            neg += not health
            if health and hit:
                tp += 1
            elif health:
                fn += 1
                misses.append(("MISS", body))
            elif hit:
                fp += 1
                misses.append(("FALSE ALARM", body))
        p = tp / (tp + fp) if tp + fp else 1.0
        rc = tp / (tp + fn) if tp + fn else 1.0
        print("%-36s %5d %5d %9.3f %6s" % (name, pos, neg, p, "%.3f" % rc if pos else "-"))
        for k, v in enumerate((tp, fp, fn, pos, neg)):
            totals[k] += v
    tp, fp, fn, pos, neg = totals
    print("%-36s %5d %5d %9.3f %6.3f" % ("all sources", pos, neg, tp / max(tp + fp, 1), tp / max(tp + fn, 1)))
    if "-v" in sys.argv:
        for kind, body in misses:
            print("--- %s\n%s" % (kind, body))


if __name__ == "__main__":
    main()
