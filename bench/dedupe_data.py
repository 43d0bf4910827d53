"""A labelled set for duplicate detection: people, plus planted duplicates of the kinds a CRM
collects (typos, nicknames, reformatted phones, plus-tags and dots, swapped first/last, a
Cyrillic name typed in Latin), and hard non-duplicates (namesakes, family members sharing a
landline, colleagues with one first name). Used by bench/dedupe.py and tests/contacts/test_dedupe_accuracy.py.

`generate(n, dups, seed)` returns (rows, truth): rows are dicts of contact fields with a
`key` (0..n-1), truth the set of (key, key) pairs that are one person.
"""

from __future__ import annotations

import random

from crm.seeding import FIRST_NAMES, LAST_NAMES

NICKS = {"Robert": "Bob", "William": "Bill", "James": "Jim", "Michael": "Mike", "David": "Dave",
         "Daniel": "Dan", "Thomas": "Tom", "Christopher": "Chris", "Katherine": "Kate", "Elizabeth": "Liz",
         "Jennifer": "Jen", "Alexander": "Alex", "Andrew": "Andy", "Anthony": "Tony", "Joseph": "Joe",
         "Steven": "Steve", "Nicholas": "Nick", "Matthew": "Matt", "Patrick": "Pat", "Richard": "Rick",
         "Edward": "Ed", "Samuel": "Sam", "Benjamin": "Ben", "Gregory": "Greg", "Jeffrey": "Jeff",
         "Kenneth": "Ken", "Margaret": "Peggy", "Susan": "Sue", "Deborah": "Debbie", "Peter": "Pete",
         "Charles": "Charlie", "Timothy": "Tim", "Rebecca": "Becky", "Jessica": "Jess", "Victoria": "Vicky",
         "Patricia": "Patty", "Lawrence": "Larry", "Henry": "Hank"}
CYRILLIC = [("Дмитрий", "Соколов", "Dmitry", "Sokolov"), ("Анна", "Соколова", "Anna", "Sokolova"),
            ("Елена", "Иванова", "Elena", "Ivanova"), ("Сергей", "Петров", "Sergey", "Petrov"),
            ("Ольга", "Кузнецова", "Olga", "Kuznetsova"), ("Иван", "Смирнов", "Ivan", "Smirnov"),
            ("Наталья", "Попова", "Natalya", "Popova"), ("Михаил", "Волков", "Mikhail", "Volkov"),
            ("Татьяна", "Морозова", "Tatyana", "Morozova"), ("Андрей", "Новиков", "Andrey", "Novikov")]
FREE = ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "gmx.de"]
WORDS_A = ["North", "Blue", "Bright", "Iron", "Silver", "Green", "Rapid", "Summit", "Cedar", "Harbor", "Atlas",
           "Nova", "Pioneer", "Granite", "Crystal", "Falcon", "Maple", "Orbit", "Prairie", "Quantum"]
WORDS_B = ["Labs", "Systems", "Logistics", "Foods", "Media", "Analytics", "Health", "Energy", "Robotics",
           "Capital", "Studio", "Works", "Networks", "Dynamics", "Partners", "Retail", "Bio", "Cloud"]
SUFFIXES = ["Inc.", "LLC", "GmbH", "Ltd", "", "", "S.A."]
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:  # drop a letter
        return word[:i] + word[i + 1:]
    if kind == 1:  # double a letter
        return word[:i] + word[i] + word[i:]
    if kind == 2:  # swap two letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + rng.choice(KEYBOARD) + word[i + 1:]  # wrong letter


def _phone_formats(e164: str, rng: random.Random) -> str:
    """The same US number as people type it."""
    national = e164[2:]
    return rng.choice([e164, f"({national[:3]}) {national[3:6]}-{national[6:]}", f"{national[:3]}-{national[3:6]}-"
                       f"{national[6:]}", f"+1 {national[:3]} {national[3:6]} {national[6:]}",
                       f"1.{national[:3]}.{national[3:6]}.{national[6:]}"])


def _local(first: str, last: str, n: int) -> str:
    from contacts.dedupe import latin

    return f"{latin(first).replace(' ', '')}.{latin(last).replace(' ', '')}{n}"


def generate(n: int, dups: int, seed: int = 7):
    rng = random.Random(seed)
    firsts = [f for f in FIRST_NAMES if f.isascii()] + list(NICKS)
    lasts = [name for name in LAST_NAMES if name.isascii()]
    companies = []
    for i in range(max(20, n // 25)):
        base = f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)}{'' if i < 360 else ' ' + str(i)}"
        domain = base.lower().replace(" ", "") + ".com"
        companies.append((f"{base} {rng.choice(SUFFIXES)}".strip(), domain))
    # 555-01xx numbers are fictional; use a wide unique range of area codes and lines instead.
    phone_pool = rng.sample(range(2_000_000, 9_999_999), k=n + 10)
    area = [201, 212, 305, 312, 415, 503, 617, 646, 702, 713, 718, 805, 917, 973]

    def new_phone(i):
        return f"+1{rng.choice(area)}{phone_pool[i]:07d}"

    rows: list[dict] = []
    truth: set[tuple[int, int]] = set()
    originals = n - dups
    for i in range(originals):
        if rng.random() < 0.03:
            first, last = rng.choice(CYRILLIC)[0], rng.choice(CYRILLIC)[1]
        else:
            first, last = rng.choice(firsts), rng.choice(lasts)
        company, cdomain = rng.choice(companies) if rng.random() < 0.7 else ("", "")
        if company and rng.random() < 0.6:
            email = f"{_local(first, last, i)}@{cdomain}"
        elif rng.random() < 0.85:
            email = f"{_local(first, last, i)}@{rng.choice(FREE)}"
        else:
            email = ""
        phone = new_phone(i) if rng.random() < 0.8 else ""
        mobile = new_phone(n - i) if rng.random() < 0.2 else ""
        rows.append({"key": i, "first_name": first, "last_name": last, "email": email, "phone": phone,
                     "mobile": mobile, "company_name": company})
    # Hard non-duplicates: family members on one landline, colleagues sharing a first name.
    for _ in range(originals // 50):
        a = rows[rng.randrange(originals)]
        b = rows[rng.randrange(originals)]
        if a is b or not a["phone"]:
            continue
        b["last_name"] = a["last_name"]
        b["phone"] = a["phone"]
        b["email"] = b["email"] and f"{_local(b['first_name'], b['last_name'], b['key'])}@{rng.choice(FREE)}"
        if b["first_name"] == a["first_name"]:
            b["first_name"] = rng.choice(firsts)

    clusters: dict[int, list[int]] = {}
    kinds = ["email_variant", "phone_typo", "nickname_company", "swapped", "transliterated", "plus_typo"]
    made = 0
    for index in rng.sample(range(originals), dups):
        orig = rows[index]
        kind = kinds[made % len(kinds)]
        dup = {**orig, "key": len(rows)}
        first, last = orig["first_name"], orig["last_name"]
        if kind == "email_variant":
            user = orig["email"].split("@")[0] or _local(first, last, orig["key"])
            if rng.random() < 0.5:
                orig["email"] = f"{user}@gmail.com"
                dup["email"] = rng.choice([f"{user.replace('.', '')}@gmail.com", f"{user}+crm@googlemail.com",
                                           f"{user[:2]}.{user[2:]}@gmail.com"])
            else:
                orig["email"] = f"{user}@outlook.com"
                dup["email"] = rng.choice([f"{user}+news@outlook.com", f"{user}+work@hotmail.com"])
                if dup["email"].endswith("hotmail.com"):
                    orig["email"] = f"{user}@hotmail.com"
            dup["phone"] = ""
            dup["mobile"] = new_phone(rng.randrange(n)) if rng.random() < 0.3 else ""
        elif kind == "phone_typo":
            if not orig["phone"]:
                orig["phone"] = new_phone(orig["key"])
            dup["phone"], dup["mobile"] = ("", _phone_formats(orig["phone"], rng)) if rng.random() < 0.3 else (
                _phone_formats(orig["phone"], rng), "")
            if rng.random() < 0.5:
                dup["first_name"] = _typo(rng, first)
            else:
                dup["last_name"] = _typo(rng, last)
            dup["email"] = ""
        elif kind == "nickname_company":
            full, short = rng.choice(list(NICKS.items()))
            orig["first_name"] = full
            if not orig["company_name"]:
                orig["company_name"], _ = rng.choice(companies)
            dup = {**orig, "key": len(rows), "first_name": short, "phone": "", "mobile": "",
                   "email": f"{short.lower()}.{last.lower().replace(' ', '')}{len(rows)}@{rng.choice(FREE)}"}
        elif kind == "swapped":
            dup["first_name"], dup["last_name"] = last, first
            if not orig["phone"] or rng.random() < 0.5:
                user = _local(first, last, orig["key"])
                orig["email"] = f"{user}@gmail.com"
                dup["email"], dup["phone"] = f"{user.replace('.', '')}@gmail.com", ""
            else:
                dup["email"] = ""
        elif kind == "transliterated":
            (native_first, _, latin_first, _), (_, native_last, _, latin_last) = rng.sample(CYRILLIC, 2)
            orig["first_name"], orig["last_name"] = native_first, native_last
            if not orig["phone"]:
                orig["phone"] = new_phone(orig["key"])
            dup.update(first_name=latin_first, last_name=latin_last, email="",
                       phone=_phone_formats(orig["phone"], rng))
        elif kind == "plus_typo":
            user = _local(first, last, orig["key"])
            orig["email"] = f"{user}@gmail.com"
            dup["email"] = f"{user}+{rng.choice(['crm', 'sales', 'x'])}@gmail.com"
            dup["last_name"] = _typo(rng, last)
            dup["phone"] = ""
        rows.append(dup)
        clusters.setdefault(orig["key"], [orig["key"]]).append(dup["key"])
        made += 1
    # Addresses are unique in an organization: a variant typed twice keeps only its first copy.
    seen = set()
    for row in rows:
        email = row["email"].strip().lower()
        if email in seen:
            row["email"] = ""
        seen.add(email)
    truth = {(a, b) for keys in clusters.values() for a in keys for b in keys if a < b}
    return rows, truth
