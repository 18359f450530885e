#!/usr/bin/env python3
"""Writes verdict tables from python-stdnum, the independent oracle the
checksum tests compare against (tests/oracle.rs). Run from the repository root
on the date the tables are dated (the fødselsnummer verdicts depend on
"today"): python3 tests/oracle/generate.py
"""
import os
import random

from stdnum import luhn
from stdnum.fi import hetu
from stdnum.no import fodselsnummer, kontonr

OUT = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261125)


def mutate(s):
    i = rng.randrange(len(s))
    if rng.random() < 0.5:
        return s[:i] + str(rng.randrange(10)) + s[i + 1:]
    if i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s


def table(name, candidates, verdict):
    with open(os.path.join(OUT, name), "w") as f:
        for c in candidates:
            f.write("%s %d\n" % (c, 1 if verdict(c) else 0))


def near_valid_fnr():
    while True:
        d, m = rng.randint(1, 31), rng.randint(1, 12)
        d += 40 if rng.random() < 0.2 else 0
        m += rng.choice((0, 0, 0, 40, 65, 80))
        n = "%02d%02d%02d%03d" % (d, m, rng.randint(0, 99), rng.randint(0, 999))
        for k in range(100):
            c = n + "%02d" % k
            if fodselsnummer.calc_check_digit1(c) == c[9] and fodselsnummer.calc_check_digit2(c) == c[10]:
                return c


fnr = []
for _ in range(1500):
    v = near_valid_fnr()
    fnr.append(v)
    fnr.append(mutate(v))
fnr += ["%011d" % rng.randrange(10 ** 11) for _ in range(1000)]
table("no_fodselsnummer.txt", fnr, fodselsnummer.is_valid)

accounts = ["%011d" % rng.randrange(10 ** 11) for _ in range(2000)]
accounts += [mutate(a) for a in accounts[:500] if kontonr.is_valid(a)]
table("no_kontonr.txt", accounts, kontonr.is_valid)

cards = []
for _ in range(1500):
    body = "".join(str(rng.randrange(10)) for _ in range(rng.randint(12, 18)))
    full = body + luhn.calc_check_digit(body)
    cards += [full, mutate(full)]
table("luhn.txt", cards, luhn.is_valid)

hetus = []
for _ in range(1500):
    n = "%02d%02d%02d%s%03d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(0, 99), rng.choice("-+A"), rng.randint(2, 899))
    c = n + hetu._calc_checksum(n[:6] + n[7:10]) if hasattr(hetu, "_calc_checksum") else n + "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(n[:6] + n[7:10]) % 31]
    hetus += [c, c[:-1] + rng.choice("0123456789ABCDEFHJKLMNPRSTUVWXY")]
table("fi_hetu.txt", hetus, hetu.is_valid)
print("tables written to", OUT)
