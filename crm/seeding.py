"""Fast, reproducible demo data for benchmarks (behind `manage.py seed_demo`).

The few organization-level rows (organizations, users, memberships, teams, tags,
custom-field definitions) go through the ORM and `crm.services`, so they are
validated. The bulk rows (companies, contacts, tags on contacts, company links,
relationships, activities) are generated in Python with a seeded `random.Random`
and loaded with PostgreSQL COPY on Django's psycopg 3 connection, one transaction
per batch of contacts. Contact and company ids are reserved from their sequences
beforehand so the dependent rows can reference them without RETURNING.

The django-pghistory audit triggers stay installed but are skipped for the load
through django-pgtrigger's `pgtrigger.ignore` session variable (set per
transaction on the raw connection, since COPY does not pass through Django's
execute wrappers), so a demo load writes no audit events.
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone as dt_timezone
from random import Random

from crm.search import digits, fold
from types import SimpleNamespace
from typing import Callable

DEFAULT_PASSWORD = "kith-demo-pass"
DEFAULT_SEED = 42
DEFAULT_BATCH = 50_000
DEFAULT_JOBS = 2  # organizations loaded in parallel, one database connection each
EMAIL_DOMAIN = "kith.test"
YEARS = 3

# --------------------------------------------------------------------------- word lists

ORG_NAMES = [
    "Northwind Traders", "Contoso", "Fabrikam", "Tailspin Toys", "Wide World Importers", "Adventure Works",
    "Litware", "Proseware", "Woodgrove Bank", "Alpine Ski House", "Coho Winery", "Lucerne Publishing",
    "Fourth Coffee", "Margie's Travel", "Trey Research", "Blue Yonder Airlines",
]
TEAM_NAMES = ["Enterprise", "Mid-market", "SMB"]
REPS_PER_TEAM = 4

FIRST_NAMES = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
    "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie",
    "Ronald", "Rebecca", "Jason", "Laura", "Edward", "Sharon", "Jeffrey", "Cynthia", "Ryan", "Kathleen",
    "Jacob", "Amy", "Gary", "Angela", "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda",
    "Stephen", "Pamela", "Larry", "Emma", "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha",
    "Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Patrick",
    "Carolyn", "Frank", "Janet", "Raymond", "Catherine", "Jack", "Maria", "Dennis", "Heather", "Jerry",
    "Diane", "Tyler", "Olivia", "Aaron", "Julie", "Jose", "Joyce", "Adam", "Victoria", "Nathan", "Ruth",
    "Henry", "Virginia", "Zachary", "Lauren", "Douglas", "Kelly", "Peter", "Christina", "Kyle", "Joan",
    "Noah", "Evelyn", "Ethan", "Judith", "Jeremy", "Andrea", "Walter", "Hannah", "Christian", "Megan",
    "Keith", "Cheryl", "Roger", "Jacqueline", "Terry", "Martha", "Austin", "Madison", "Sean", "Teresa",
    "Liam", "Sophia", "Lucas", "Mia", "Mateo", "Isabella", "Leon", "Charlotte", "Finn", "Amelia",
    "Priya", "Arjun", "Wei", "Mei", "Hiroshi", "Yuki", "Kenji", "Aiko", "Omar", "Fatima", "Ahmed", "Layla",
    "Chidi", "Amara", "Kwame", "Ngozi", "Mohammed", "Aisha", "Raj", "Ananya", "Vikram", "Deepika",
    "Santiago", "Valentina", "Diego", "Camila", "Javier", "Lucía", "Sofía", "Martín", "Andrés", "Inés",
    "José", "María", "Zoë", "Chloé", "Renée", "Noémie", "Hélène", "François", "Jérôme", "Amélie",
    "Björn", "Søren", "Åsa", "Jürgen", "Jörg", "Günther", "Käthe", "Müge", "Łukasz", "Małgorzata",
    "Zoltán", "Dávid", "Réka", "Ciarán", "Siobhán", "Aoife", "Niamh", "Eoghan", "Tomáš", "Jiří",
    "Mikael", "Ingrid", "Lars", "Astrid", "Sven", "Freya", "Klaus", "Heike", "Anja", "Dieter",
    "Giulia", "Marco", "Francesca", "Luca", "Matteo", "Chiara", "Pierre", "Camille", "Luc", "Élodie",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
    "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart",
    "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell", "Jenkins",
    "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher",
    "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds",
    "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis",
    "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison",
    "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch",
    "Müller", "Schäfer", "Köhler", "Wöhler", "Groß", "Jäger", "Krämer", "Böhm", "Şahin", "Yılmaz",
    "García", "Rodríguez", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Díaz", "Núñez",
    "Muñoz", "Jiménez", "Peña", "Gonçalves", "Magalhães", "Araújo", "Conceição", "Lefèvre", "Bérenger",
    "Dubois", "Moreau", "Laurent", "Lefebvre", "Fontaine", "Chevalier", "Rousseau", "Faure", "Girard",
    "Østergaard", "Sørensen", "Åberg", "Lindqvist", "Nyström", "Öberg", "Johansson", "Andersson", "Nilsson",
    "Kowalski", "Wiśniewski", "Wójcik", "Dvořák", "Novák", "Horváth", "Kovačević", "Petrović", "Popescu",
    "O'Brien", "O'Connor", "McCarthy", "Ní Bhriain", "Fitzgerald", "MacDonald", "van der Berg", "de Vries",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
    "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Wang", "Li", "Zhang", "Liu", "Chen", "Yang",
    "Singh", "Kumar", "Sharma", "Gupta", "Reddy", "Iyer", "Okafor", "Mensah", "Adeyemi", "Haddad",
    "García-López", "Smith-Jones",
]
# Native spelling with the transliteration used for email addresses; used sparingly.
NON_LATIN_NAMES = [
    ("Дмитрий", "Иванов", "dmitry", "ivanov"), ("Олена", "Шевченко", "olena", "shevchenko"),
    ("Γιώργος", "Παπαδόπουλος", "giorgos", "papadopoulos"), ("Ελένη", "Νικολάου", "eleni", "nikolaou"),
    ("芳", "王", "fang", "wang"), ("伟", "李", "wei", "li"), ("さくら", "田中", "sakura", "tanaka"),
    ("翔太", "佐藤", "shota", "sato"), ("지훈", "김", "jihun", "kim"), ("서연", "이", "seoyeon", "lee"),
    ("محمد", "العلي", "mohammed", "alali"), ("فاطمة", "حداد", "fatima", "haddad"),
    ("अर्जुन", "शर्मा", "arjun", "sharma"), ("דוד", "כהן", "david", "cohen"), ("สมชาย", "ใจดี", "somchai", "jaidee"),
]
PERSONAL_DOMAINS = ["gmail.test", "outlook.test", "yahoo.test", "icloud.test", "proton.test", "gmx.test"]

COMPANY_WORD_A = [
    "Blue", "Red", "Silver", "Golden", "North", "South", "Summit", "Pine", "Cedar", "Iron", "Bright", "Clear",
    "Swift", "Green", "Granite", "Crystal", "Maple", "Harbor", "Evergreen", "Atlas", "Nova", "Polar", "Coastal",
    "Prairie", "Urban", "Royal", "Quantum", "Vertex", "Stellar", "Copper", "Oak", "Falcon", "Eagle", "Lunar",
    "Solar", "Redwood", "Highland", "Liberty", "Pioneer", "Frontier", "Apex", "Keystone", "Bluebird", "Orchid",
    "Sierra", "Canyon", "Aurora", "Beacon", "Heritage", "Crimson",
]
COMPANY_WORD_B = [
    "Harbor", "River", "Ridge", "Stone", "Field", "Bridge", "Lake", "Crest", "Wave", "Forge", "Point", "Peak",
    "Valley", "Grove", "Bay", "Hill", "Rock", "Wind", "Light", "Path", "Gate", "Works", "Spring", "Meadow",
    "Creek", "Haven", "Shore", "Mill", "Port", "Line", "Star", "Leaf", "Cloud", "Tree", "Bell", "Trail",
]
# Third word with its industry.
COMPANY_WORD_C = [
    ("Logistics", "Transportation & Logistics"), ("Freight", "Transportation & Logistics"),
    ("Analytics", "Software"), ("Software", "Software"), ("Systems", "Information Technology"),
    ("Labs", "Biotechnology"), ("Biotech", "Biotechnology"), ("Health", "Healthcare"), ("Clinics", "Healthcare"),
    ("Foods", "Food & Beverage"), ("Brewing", "Food & Beverage"), ("Partners", "Professional Services"),
    ("Consulting", "Professional Services"), ("Manufacturing", "Manufacturing"), ("Industries", "Manufacturing"),
    ("Energy", "Energy"), ("Solar", "Energy"), ("Media", "Media & Entertainment"), ("Studios", "Media & Entertainment"),
    ("Capital", "Financial Services"), ("Bank", "Financial Services"), ("Insurance", "Insurance"),
    ("Realty", "Real Estate"), ("Properties", "Real Estate"), ("Robotics", "Manufacturing"),
    ("Apparel", "Retail"), ("Outfitters", "Retail"), ("Motors", "Automotive"), ("Telecom", "Telecommunications"),
    ("Networks", "Telecommunications"), ("Education", "Education"), ("Academy", "Education"),
    ("Construction", "Construction"), ("Builders", "Construction"), ("Pharma", "Pharmaceuticals"),
    ("Hospitality", "Hospitality"), ("Travel", "Travel & Tourism"), ("Legal", "Legal Services"),
    ("Security", "Information Technology"), ("Cloud", "Software"),
]
INDUSTRIES = sorted({industry for _, industry in COMPANY_WORD_C} | {"Nonprofit", "Government", "Agriculture"})
LEGAL_SUFFIX = {"US": ["Inc.", "LLC", "", "", ""], "CA": ["Inc.", "Ltd.", ""], "GB": ["Ltd", "PLC", ""],
                "IE": ["Ltd", ""], "DE": ["GmbH", "AG", "GmbH & Co. KG"], "FR": ["SAS", "SA"], "NL": ["B.V."],
                "ES": ["S.L.", "S.A."], "AU": ["Pty Ltd"], "CH": ["AG", "GmbH"], "SE": ["AB"], "PL": ["Sp. z o.o."],
                "JP": ["K.K."], "BR": ["Ltda."], "IN": ["Pvt. Ltd."], "MX": ["S.A. de C.V."], "SG": ["Pte. Ltd."]}
CURRENCY = {"US": "USD", "CA": "CAD", "GB": "GBP", "IE": "EUR", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR",
            "AU": "AUD", "CH": "CHF", "SE": "SEK", "PL": "PLN", "JP": "JPY", "BR": "BRL", "IN": "INR", "MX": "MXN",
            "SG": "SGD"}
LANGUAGE_BY_COUNTRY = {"DE": "German", "CH": "German", "FR": "French", "ES": "Spanish", "MX": "Spanish",
                       "BR": "Portuguese", "JP": "Japanese", "NL": "Dutch", "SE": "Swedish", "PL": "Polish"}
LANGUAGES = ["English", "German", "French", "Spanish", "Portuguese", "Japanese", "Dutch", "Swedish", "Polish"]

JOB_TITLES = [
    ("Chief Executive Officer", "Executive"), ("Founder", "Executive"), ("Chief Operating Officer", "Executive"),
    ("Chief Financial Officer", "Finance"), ("Controller", "Finance"), ("Financial Analyst", "Finance"),
    ("Chief Technology Officer", "Engineering"), ("VP of Engineering", "Engineering"),
    ("Software Engineer", "Engineering"), ("Senior Software Engineer", "Engineering"),
    ("Engineering Manager", "Engineering"), ("IT Director", "IT"), ("Systems Administrator", "IT"),
    ("VP of Sales", "Sales"), ("Account Executive", "Sales"), ("Sales Director", "Sales"),
    ("Business Development Manager", "Sales"), ("Head of Marketing", "Marketing"),
    ("Marketing Manager", "Marketing"), ("Content Strategist", "Marketing"), ("Growth Lead", "Marketing"),
    ("Procurement Manager", "Procurement"), ("Purchasing Agent", "Procurement"),
    ("Head of People", "Human Resources"), ("HR Business Partner", "Human Resources"), ("Recruiter", "Human Resources"),
    ("Operations Manager", "Operations"), ("Office Manager", "Operations"), ("Supply Chain Analyst", "Operations"),
    ("Product Manager", "Product"), ("Head of Product", "Product"), ("UX Designer", "Product"),
    ("Customer Success Manager", "Customer Success"), ("Support Lead", "Customer Success"),
    ("General Counsel", "Legal"), ("Data Scientist", "Data"), ("Head of Data", "Data"),
    ("Research Scientist", "R&D"), ("Plant Manager", "Operations"), ("Consultant", "Professional Services"),
]
DECISION_ROLES = ["decision_maker", "economic_buyer", "technical_buyer", "champion", "influencer", "gatekeeper",
                  "blocker", "end_user"]

TAGS = [
    ("VIP", "red"), ("Newsletter", "blue"), ("Hot lead", "orange"), ("Cold lead", "cyan"), ("Partner", "violet"),
    ("Churn risk", "amber"), ("Decision maker", "indigo"), ("Webinar attendee", "lime"), ("Do not call", "gray"),
    ("Referral source", "green"), ("Beta tester", "purple"), ("Enterprise prospect", "pink"),
    ("Trade show", "yellow"), ("Needs follow-up", "teal"), ("Renewal due", "amber"), ("Champion", "green"),
    ("Event 2025", "teal"), ("Investor", "indigo"),
]
CUSTOM_FIELDS = [
    # key, label, type, options
    ("preferred_language", "Preferred language", "select", LANGUAGES),
    ("annual_budget", "Annual budget", "number", []),
    ("renewal_date", "Renewal date", "date", []),
    ("newsletter", "Newsletter", "boolean", []),
]

US_STREETS = ["Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine", "Sunset",
              "Market", "Mission", "Lincoln", "Jefferson", "Highland", "Madison", "Franklin", "Church", "River"]
US_SUFFIX = ["St", "Ave", "Blvd", "Rd", "Ln", "Dr", "Way", "Ct"]
GB_STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road",
              "King's Road", "Queen Street", "Mill Lane", "Park Avenue"]
DE_STREETS = ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Goethestraße", "Gartenweg", "Lindenallee",
              "Berliner Straße", "Kirchgasse", "Friedrichstraße", "Münchner Straße"]
FR_STREETS = ["rue de la Paix", "avenue Victor Hugo", "rue du Faubourg Saint-Honoré", "boulevard Haussmann",
              "rue de Rivoli", "quai de la Tournelle"]
OTHER_STREETS = ["Calle Mayor", "Herengracht", "Grafton Street", "George Street", "Drottninggatan",
                 "Bahnhofstrasse", "ul. Marszałkowska", "Avenida Paulista", "MG Road", "Orchard Road"]
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# Cities: country, city, region, IANA time zone, phone spec, mobile spec, postal spec, street style.
# Phone specs are lists of (prefix, random digits); "US" means a North American number from area codes.
# Every spec below was checked with `phonenumbers.is_valid_number`.
_US = [
    ("New York", "NY", "America/New_York", [212, 646, 917, 718, 347], "100"),
    ("San Francisco", "CA", "America/Los_Angeles", [415], "941"),
    ("Los Angeles", "CA", "America/Los_Angeles", [213, 310, 323, 424, 818], "900"),
    ("Chicago", "IL", "America/Chicago", [312, 773, 872], "606"),
    ("Austin", "TX", "America/Chicago", [512, 737], "787"),
    ("Dallas", "TX", "America/Chicago", [214, 469, 972], "752"),
    ("Houston", "TX", "America/Chicago", [713, 281, 832], "770"),
    ("Seattle", "WA", "America/Los_Angeles", [206, 425], "981"),
    ("Boston", "MA", "America/New_York", [617, 857], "021"),
    ("Denver", "CO", "America/Denver", [303, 720], "802"),
    ("Phoenix", "AZ", "America/Phoenix", [602, 480, 623], "850"),
    ("Atlanta", "GA", "America/New_York", [404, 678, 770], "303"),
    ("Miami", "FL", "America/New_York", [305, 786], "331"),
    ("Portland", "OR", "America/Los_Angeles", [503, 971], "972"),
    ("Minneapolis", "MN", "America/Chicago", [612, 763, 952], "554"),
    ("Detroit", "MI", "America/Detroit", [313, 248], "482"),
    ("Philadelphia", "PA", "America/New_York", [215, 267], "191"),
    ("Nashville", "TN", "America/Chicago", [615], "372"),
    ("Salt Lake City", "UT", "America/Denver", [801, 385], "841"),
    ("San Diego", "CA", "America/Los_Angeles", [619, 858], "921"),
    ("Raleigh", "NC", "America/New_York", [919], "276"),
    ("Columbus", "OH", "America/New_York", [614], "432"),
    ("Honolulu", "HI", "Pacific/Honolulu", [808], "968"),
    ("Anchorage", "AK", "America/Anchorage", [907], "995"),
    ("Washington", "DC", "America/New_York", [202], "200"),
    ("Pittsburgh", "PA", "America/New_York", [412], "152"),
    ("Kansas City", "MO", "America/Chicago", [816], "641"),
    ("Las Vegas", "NV", "America/Los_Angeles", [702], "891"),
    ("New Orleans", "LA", "America/Chicago", [504], "701"),
    ("Indianapolis", "IN", "America/Indiana/Indianapolis", [317], "462"),
]
_GB_MOBILE = [("+4474", 8), ("+4475", 8), ("+4478", 8)]
_DE_MOBILE = [(f"+49{p}", 8) for p in (151, 152, 157, 160, 162, 170, 171, 172, 175, 176, 177, 178, 179)]
CITIES = (
    [("US", c, r, tz, ("US", codes), ("US", codes), ("us", z), "us") for c, r, tz, codes, z in _US]
    + [
        ("CA", "Toronto", "ON", "America/Toronto", ("US", [416, 647]), ("US", [416, 647]), ("ca", "M"), "us"),
        ("CA", "Vancouver", "BC", "America/Vancouver", ("US", [604, 778]), ("US", [604, 778]), ("ca", "V"), "us"),
        ("CA", "Montréal", "QC", "America/Toronto", ("US", [514, 438]), ("US", [514, 438]), ("ca", "H"), "fr"),
        ("GB", "London", "England", "Europe/London", [("+44207", 7), ("+44203", 7), ("+44208", 7)], _GB_MOBILE,
         ("gb", ["SW1A", "EC2A", "N1", "E1", "W1D", "SE1", "NW3"]), "gb"),
        ("GB", "Manchester", "England", "Europe/London", [(f"+44161{d}", 6) for d in "234567"], _GB_MOBILE,
         ("gb", ["M1", "M2", "M4", "M14"]), "gb"),
        ("GB", "Birmingham", "England", "Europe/London", [(f"+44121{d}", 6) for d in "234567"], _GB_MOBILE,
         ("gb", ["B1", "B2", "B5", "B15"]), "gb"),
        ("GB", "Edinburgh", "Scotland", "Europe/London", [(f"+44131{d}", 6) for d in "2345678"], _GB_MOBILE,
         ("gb", ["EH1", "EH2", "EH3", "EH8"]), "gb"),
        ("GB", "Bristol", "England", "Europe/London", [(f"+44117{d}", 6) for d in "234"], _GB_MOBILE,
         ("gb", ["BS1", "BS2", "BS8"]), "gb"),
        ("GB", "Glasgow", "Scotland", "Europe/London", [(f"+44141{d}", 6) for d in "2345678"], _GB_MOBILE,
         ("gb", ["G1", "G2", "G3", "G12"]), "gb"),
        ("DE", "Berlin", "Berlin", "Europe/Berlin", [(f"+4930{d}", 7) for d in "2345678"], _DE_MOBILE,
         ("de", ["10", "12", "13"]), "de"),
        ("DE", "München", "Bayern", "Europe/Berlin", [(f"+4989{d}", 7) for d in "2345678"], _DE_MOBILE,
         ("de", ["80", "81"]), "de"),
        ("DE", "Hamburg", "Hamburg", "Europe/Berlin", [(f"+4940{d}", 7) for d in "2345678"], _DE_MOBILE,
         ("de", ["20", "22"]), "de"),
        ("DE", "Frankfurt am Main", "Hessen", "Europe/Berlin", [(f"+4969{d}", 7) for d in "2345678"], _DE_MOBILE,
         ("de", ["60"]), "de"),
        ("DE", "Köln", "Nordrhein-Westfalen", "Europe/Berlin", [(f"+49221{d}", 6) for d in "2345678"], _DE_MOBILE,
         ("de", ["50", "51"]), "de"),
        ("DE", "Stuttgart", "Baden-Württemberg", "Europe/Berlin", [(f"+49711{d}", 6) for d in "2345678"],
         _DE_MOBILE, ("de", ["70"]), "de"),
        ("DE", "Düsseldorf", "Nordrhein-Westfalen", "Europe/Berlin", [(f"+49211{d}", 6) for d in "2345678"],
         _DE_MOBILE, ("de", ["40"]), "de"),
        ("DE", "Leipzig", "Sachsen", "Europe/Berlin", [(f"+49341{d}", 6) for d in "2345678"], _DE_MOBILE,
         ("de", ["04"]), "de"),
        ("FR", "Paris", "Île-de-France", "Europe/Paris", [("+331", 8)], [(f"+336{d}", 7) for d in "0124578"],
         ("num", "750", 2), "fr"),
        ("FR", "Lyon", "Auvergne-Rhône-Alpes", "Europe/Paris", [("+3347", 7)],
         [(f"+336{d}", 7) for d in "0124578"],
         ("num", "690", 2), "fr"),
        ("NL", "Amsterdam", "Noord-Holland", "Europe/Amsterdam", [("+3120", 7)],
         [(f"+316{d}", 7) for d in "1234568"], ("nl", "10"), "other"),
        ("ES", "Madrid", "Comunidad de Madrid", "Europe/Madrid", [("+3491", 7)], [("+346", 8)],
         ("num", "280", 2), "other"),
        ("ES", "Barcelona", "Cataluña", "Europe/Madrid", [("+3493", 7)], [("+346", 8)], ("num", "080", 2),
         "other"),
        ("IE", "Dublin", "Leinster", "Europe/Dublin", [("+3531", 7)], [("+35387", 7)], ("ie", "D0"), "other"),
        ("AU", "Sydney", "NSW", "Australia/Sydney", [("+6129", 7)], [(f"+614{d}", 7) for d in "01236"],
         ("num", "20", 2), "other"),
        ("CH", "Zürich", "Zürich", "Europe/Zurich", [("+4144", 7), ("+4143", 7)], [("+41791", 6), ("+41787", 6)],
         ("num", "80", 2), "other"),
        ("SE", "Stockholm", "Stockholms län", "Europe/Stockholm", [("+468", 7)], [("+4670", 7), ("+4672", 7)],
         ("num", "111 ", 2), "other"),
        ("PL", "Warszawa", "mazowieckie", "Europe/Warsaw", [("+4822", 7)], [("+4850", 7), ("+4860", 7)],
         ("num", "00-", 3), "other"),
        ("JP", "Tokyo", "Tōkyō-to", "Asia/Tokyo", [], [("+8180", 8)], ("num", "100-00", 2), "other"),
        ("BR", "São Paulo", "SP", "America/Sao_Paulo", [(f"+5511{d}", 7) for d in "2345"], [("+55119", 8)],
         ("num", "01310-", 3), "other"),
        ("IN", "Bengaluru", "Karnataka", "Asia/Kolkata", [("+9180", 8)], [("+9198", 8), ("+9199", 8)],
         ("num", "5600", 2), "other"),
        ("MX", "Ciudad de México", "CDMX", "America/Mexico_City", [("+5255", 8)], [("+5255", 8)],
         ("num", "06", 3), "other"),
        ("SG", "Singapore", "", "Asia/Singapore", [("+6562", 6), ("+6563", 6)], [("+6591", 6), ("+6581", 6)],
         ("num", "0", 5), "other"),
    ]
)
COUNTRY_WEIGHTS = {"US": 62, "GB": 10, "DE": 9, "CA": 4, "FR": 3, "NL": 2, "ES": 2, "IE": 1.5, "AU": 1.5,
                   "CH": 1, "SE": 1, "PL": 1, "JP": 0.7, "BR": 0.8, "IN": 0.8, "MX": 0.5, "SG": 0.2}

SOURCES = [("website", 25), ("referral", 12), ("event", 8), ("cold_outreach", 10), ("inbound_call", 4),
           ("inbound_sms", 1), ("social", 6), ("partner", 5), ("advertising", 7), ("import", 15), ("api", 3),
           ("other", 2), ("", 2)]
SOURCE_DETAILS = {
    "website": ["Web form: pricing page", "Web form: contact us", "Newsletter signup", "Free trial signup"],
    "event": ["Trade show: SaaStr", "Webinar: Q3 product update", "Meetup: Berlin", "Conference booth"],
    "advertising": ["Google Ads: brand campaign", "LinkedIn Ads", "Podcast sponsorship"],
    "import": ["Import: legacy CRM", "Import: trade show list", "Import: spreadsheet"],
    "referral": ["Referred by a customer", "Referred by a partner"],
}
STAGES = [("lead", 40, 5, 40), ("mql", 20, 25, 60), ("sql", 12, 40, 75), ("opportunity", 10, 55, 90),
          ("customer", 15, 50, 100), ("evangelist", 3, 70, 100)]
CHANNEL_SETS = [("{}", 30), ("{email}", 30), ("{email,call}", 10), ("{email,sms}", 10), ("{call}", 6),
                ("{sms}", 4), ("{call,email}", 5), ("{sms,email,call}", 5)]
CONTACT_TIMES = [("any", 60), ("morning", 15), ("afternoon", 15), ("evening", 10)]
OPT_IN_SETS = [("{}", 50), ("{newsletter}", 20), ("{newsletter,product_updates}", 10), ("{events}", 5),
               ("{appointment_reminders}", 5), ("{promotions,newsletter}", 5), ("{product_updates,events}", 5)]
DESCRIPTIONS = [
    "Met at a trade show; interested in the premium plan.", "Prefers short calls before 10am.",
    "Evaluating us against two other vendors.", "Former customer, came back after a merger.",
    "Budget approval expected next quarter.", "Asked for a security questionnaire.",
]
RELATIONSHIP_COLLEAGUE = ["reports_to", "manages", "assistant_of", "colleague", "colleague", "colleague"]
RELATIONSHIP_OTHER = ["referred_by", "referred_by", "friend", "partner", "spouse", "family", "other"]
SIZE_BANDS = [("1-10", 25, 50_000, 2_000_000), ("11-50", 30, 1_000_000, 10_000_000),
              ("51-200", 20, 5_000_000, 50_000_000), ("201-500", 10, 20_000_000, 150_000_000),
              ("501-1000", 7, 50_000_000, 400_000_000), ("1001-5000", 5, 200_000_000, 2_000_000_000),
              ("5001+", 3, 1_000_000_000, 50_000_000_000), ("", 5, 0, 0)]

# Activities: type, weight, direction, subjects.
ACTIVITY_TYPES = [
    ("note", 20, "internal", ["Call notes", "Intro notes", "Account notes", "Internal note", "Meeting recap"]),
    ("call", 15, None, ["Discovery call", "Follow-up call", "Left voicemail", "Pricing call", "Check-in call"]),
    ("email_sent", 20, "outbound", ["Following up on our call", "Proposal for {company}", "Quick question",
                                    "Your trial", "Next steps"]),
    ("email_received", 10, "inbound", ["Re: Proposal for {company}", "Re: Quick question", "Question about pricing",
                                       "Re: Next steps"]),
    ("email_opened", 8, "inbound", ["Opened: Following up on our call", "Opened: Your trial"]),
    ("meeting_scheduled", 5, "internal", ["Demo with {company}", "Quarterly business review", "Onboarding kickoff"]),
    ("meeting_held", 6, "internal", ["Demo with {company}", "Quarterly business review", "Onboarding kickoff",
                                     "Contract negotiation"]),
    ("task", 8, "internal", ["Send pricing", "Prepare contract", "Call back", "Send case study",
                             "Schedule demo"]),
    ("sms_sent", 3, "outbound", ["SMS"]),
    ("sms_received", 2, "inbound", ["SMS"]),
    ("stage_change", 3, "internal", ["Lifecycle stage changed"]),
]
ACTIVITY_BODIES = [
    "Talked through current tooling and pain points.", "Interested in the API and the import tools.",
    "Asked for a quote for {n} seats.", "Wants to loop in procurement next week.",
    "Sent over the case study and pricing sheet.", "Waiting on legal review.",
    "Great conversation, very engaged.", "No answer, will try again Thursday.",
]
CONTACT_ACTIVITY_TYPES = {"email_sent", "email_received", "call", "meeting_held", "sms_sent", "sms_received"}
ACTIVITY_COUNT_WEIGHTS = [(0, 40), (1, 30), (2, 18), (3, 8), (4, 4)]  # mean ≈ 1.06 per contact


def _check_word_lists():
    bad = set("\t\n\r\\")
    for text in itertools.chain(
        FIRST_NAMES, LAST_NAMES, *[n[:2] for n in NON_LATIN_NAMES], COMPANY_WORD_A, COMPANY_WORD_B,
        *COMPANY_WORD_C, *JOB_TITLES, US_STREETS, GB_STREETS, DE_STREETS, FR_STREETS, OTHER_STREETS,
        *[c[:4] for c in CITIES], DESCRIPTIONS, ACTIVITY_BODIES, *[a[3] for a in ACTIVITY_TYPES],
    ):
        if bad & set(text):
            raise AssertionError(f"word list entry {text!r} needs COPY escaping")


_check_word_lists()

# --------------------------------------------------------------------------- helpers

_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d",
                           "ı": "i", "œ": "oe", "þ": "th", "ð": "d"})
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def ascii_slug(text: str, sep: str = "") -> str:
    """Lowercase ASCII letters and digits of text (accents dropped), words joined by sep."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT)).encode("ascii", "ignore").decode().lower()
    words, word = [], []
    for ch in text:
        if ch.isalnum():
            word.append(ch)
        elif ch in " -" and word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return sep.join(words)


def copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPE)


def _picker(rng: Random, items, weights) -> Callable[[], object]:
    """A fast weighted choice (bisect on cumulative weights)."""
    cum = list(itertools.accumulate(weights))
    total = cum[-1]
    items = list(items)
    rand = rng.random
    bis = bisect.bisect_right
    last = len(items) - 1

    def pick():
        i = bis(cum, rand() * total)
        return items[i if i <= last else last]

    return pick


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, dt_timezone.utc).isoformat()


def _pg_array(values) -> str:
    return "{" + ",".join(values) + "}"


class CopyTable:
    """COPY layout of one model: the generator's columns, in order, followed by
    every other concrete column filled with its field default (as COPY text)."""

    def __init__(self, model, fields: list[str], with_pk: bool = False):
        meta = model._meta
        self.model = model
        self.table = meta.db_table
        provided = [meta.get_field(name).column for name in fields]
        if with_pk:
            provided.insert(0, meta.pk.column)
        rest, consts = [], []
        for f in meta.concrete_fields:
            if f.column in provided or f.primary_key or f.generated:  # PostgreSQL computes generated columns
                continue
            rest.append(f.column)
            consts.append(self._default_text(f))
        self.columns = provided + rest
        self.suffix = ("\t" + "\t".join(consts) if consts else "") + "\n"
        cols = ", ".join(f'"{c}"' for c in self.columns)
        self.sql = f'COPY "{self.table}" ({cols}) FROM STDIN'

    @staticmethod
    def _default_text(f) -> str:
        from django.contrib.postgres.fields import ArrayField
        from django.db.models import JSONField

        value = f.get_default()
        if value is None:
            if not f.null:
                raise ValueError(f"{f.model.__name__}.{f.name} is NOT NULL without a default; the demo "
                                 f"generator must fill it")
            return NULL
        if isinstance(f, JSONField):
            return copy_text(json.dumps(value))
        if isinstance(f, ArrayField):
            return _pg_array(value)
        if isinstance(value, bool):
            return "t" if value else "f"
        return copy_text(str(value))


# --------------------------------------------------------------------------- org-level rows (ORM)


@dataclass
class OrgPlan:
    number: int
    organization: object
    admin: object
    n_contacts: int
    # (user_id, team_id) of the members that own contacts (managers and reps).
    owners: list = field(default_factory=list)
    owner_weights: list = field(default_factory=list)
    team_ids: list = field(default_factory=list)
    tag_ids: list = field(default_factory=list)
    user_emails: list = field(default_factory=list)


def audited_trigger_uris(labels=("crm.Membership", "crm.Tag", "companies.Company", "contacts.Contact",
                                 "contacts.ContactTag", "contacts.ContactCompany",
                                 "contacts.ContactRelationship")):
    """(pgtrigger URIs, Postgres trigger ids) of the django-pghistory triggers of the loaded models."""
    from pgtrigger import registry

    uris, pgids = [], []
    for model, trigger in registry.registered():
        if model._meta.label in labels and not model._meta.abstract:
            uris.append(f"{model._meta.label}:{trigger.name}")
            pgid = trigger.get_pgid(model)
            pgids += [pgid, f"{model._meta.db_table}:{pgid}"]
    return uris, pgids


def _free_org_number(start: int) -> int:
    from crm.models import Organization, User

    n = max(start, 1)
    while (User.objects.filter(email__iendswith=f"@org{n}.{EMAIL_DOMAIN}").exists()
           or Organization.objects.filter(name__iregex=rf" {n}$").exists()):
        n += 1
    return n


def _person_name(rng: Random) -> str:
    return f"{rng.choice(FIRST_NAMES[:150])} {rng.choice(LAST_NAMES[:140])}"


def create_org(rng: Random, number: int, n_contacts: int, password: str) -> OrgPlan:
    """Organization, teams, members, tags and custom fields through the validating services."""
    from crm.models import CustomFieldDefinition, Tag, Team, User
    from crm.permissions import Role
    from crm.services import add_member, create_organization

    name = f"{ORG_NAMES[(number - 1) % len(ORG_NAMES)]} {number}"
    domain = f"org{number}.{EMAIL_DOMAIN}"
    organization, admin, _ = create_organization(
        name, admin_email=f"admin@{domain}", admin_password=password, admin_name=_person_name(rng))
    plan = OrgPlan(number=number, organization=organization, admin=admin, n_contacts=n_contacts)
    plan.user_emails.append(admin.email)
    member_ids = []
    for t, team_name in enumerate(TEAM_NAMES, start=1):
        team = Team(organization=organization, name=team_name, description=f"{team_name} accounts")
        team.full_clean()
        team.save()
        plan.team_ids.append(team.pk)
        manager = add_member(organization, email=f"manager.team{t}@{domain}", role=Role.MANAGER, team=team,
                             full_name=_person_name(rng))
        plan.owners.append((manager.pk, team.pk))
        plan.owner_weights.append(0.5)
        member_ids.append(manager.pk)
        plan.user_emails.append(manager.email)
        for r in range(1, REPS_PER_TEAM + 1):
            rep = add_member(organization, email=f"rep{r}.team{t}@{domain}", role=Role.REP, team=team,
                             full_name=_person_name(rng))
            plan.owners.append((rep.pk, team.pk))
            plan.owner_weights.append(1.0)
            member_ids.append(rep.pk)
            plan.user_emails.append(rep.email)
    viewer = add_member(organization, email=f"viewer@{domain}", role=Role.VIEWER, full_name=_person_name(rng))
    member_ids.append(viewer.pk)
    plan.user_emails.append(viewer.email)
    # add_member got no password (an unusable one, no hashing); they all share the admin's
    # password, so they get the admin's hash: one PBKDF2 run per organization instead of 17.
    User.objects.filter(pk__in=member_ids).update(password=admin.password)

    tags = rng.sample(TAGS, rng.randint(10, 15))
    for tag_name, colour in tags:
        tag = Tag(organization=organization, name=tag_name, colour=colour)
        tag.full_clean()
        tag.save()
        plan.tag_ids.append(tag.pk)
    for position, (key, label, field_type, options) in enumerate(CUSTOM_FIELDS):
        definition = CustomFieldDefinition(organization=organization, model="contact", key=key, label=label,
                                           field_type=field_type, options=list(options), position=position)
        definition.full_clean()
        definition.save()
    return plan


# --------------------------------------------------------------------------- bulk rows (COPY)


class _Progress:
    """Rows done / total and rates, shared by the loader threads."""

    def __init__(self, out, total_contacts: int):
        self.out = out
        self.total = total_contacts
        self.contacts = 0
        self.rows = 0
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def add(self, label: str, contacts: int = 0, rows: int = 0, report: bool = True):
        with self.lock:
            self.contacts += contacts
            self.rows += rows
            if not report:
                return
            elapsed = max(time.monotonic() - self.start, 1e-6)
            rate = self.contacts / elapsed
            eta = (self.total - self.contacts) / rate if rate else 0
            pct = 100.0 * self.contacts / self.total if self.total else 100.0
            self.out(f"{label}: contacts {self.contacts:,}/{self.total:,} ({pct:.1f}%) · {rate:,.0f} contacts/s · "
                     f"{self.rows:,} rows, {self.rows / elapsed:,.0f} rows/s · {elapsed:,.1f}s elapsed, "
                     f"eta {eta:,.0f}s")


class Loader:
    """Generates and COPYs the bulk rows of one organization."""

    CONTACT_FIELDS = [
        "organization", "created_at", "updated_at", "team", "owner", "first_name", "middle_name", "last_name",
        "display_name", "email", "phone", "mobile", "job_title", "department", "birth_date", "website",
        "linkedin", "twitter", "source", "source_detail", "lifecycle_stage", "score", "industry", "description",
        "timezone", "preferred_channels", "preferred_contact_time", "notification_opt_ins", "custom_fields",
        "last_activity_at", "last_contacted_at", "created_by", "deleted_at", "street", "city", "region",
        "postal_code", "country", "search_name", "search_name_rev", "company_name", "phone_digits",
    ]
    COMPANY_FIELDS = [
        "organization", "created_at", "updated_at", "name", "domain", "website", "phone", "industry", "size_band",
        "annual_revenue", "currency", "timezone", "founded_year", "description", "parent", "owner", "created_by",
        "street", "city", "region", "postal_code", "country", "search_name",
    ]
    TAG_FIELDS = ["created_at", "updated_at", "contact", "organization", "tag"]
    LINK_FIELDS = ["created_at", "updated_at", "role", "decision_role", "is_primary", "company", "contact",
                   "organization"]
    REL_FIELDS = ["created_at", "updated_at", "type", "note", "from_contact", "organization", "to_contact"]
    ACTIVITY_FIELDS = ["created_at", "updated_at", "type", "direction", "status", "occurred_at", "subject", "body",
                       "metadata", "due_at", "completed_at", "actor", "assigned_to", "company", "contact",
                       "organization"]

    def __init__(self, *, now: float, batch: int, ignore_pgids: list[str], progress: _Progress):
        from activities.models import Activity
        from companies.models import Company, validate_timezone
        from contacts.models import Contact, ContactCompany, ContactRelationship, ContactTag

        self.now = now
        self.start = now - YEARS * 365.25 * 86400
        self.batch = max(1, batch)
        self.ignore = _pg_array(ignore_pgids)
        self.progress = progress
        self.contact_t = CopyTable(Contact, self.CONTACT_FIELDS, with_pk=True)
        self.company_t = CopyTable(Company, self.COMPANY_FIELDS, with_pk=True)
        self.tag_t = CopyTable(ContactTag, self.TAG_FIELDS)
        self.link_t = CopyTable(ContactCompany, self.LINK_FIELDS)
        self.rel_t = CopyTable(ContactRelationship, self.REL_FIELDS)
        self.activity_t = CopyTable(Activity, self.ACTIVITY_FIELDS)
        for city in CITIES:
            validate_timezone(city[3])
        self.seconds: dict[str, float] = {}  # wall time per table (generation + COPY)
        self.counts = {"companies": 0, "contacts": 0, "contact_tags": 0, "contact_companies": 0,
                       "relationships": 0, "activities": 0}

    # -- database plumbing

    def _raw(self):
        from django.db import connection

        connection.ensure_connection()
        return connection.connection

    def _reserve_ids(self, cur, table: str, n: int) -> list[int]:
        cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        seq = cur.fetchone()[0]
        cur.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [seq, n])
        return [row[0] for row in cur.fetchall()]

    def _begin(self, cur):
        # Transaction-local: the audit triggers of the loaded tables return early.
        cur.execute("SELECT set_config('pgtrigger.ignore', %s, true), set_config('synchronous_commit', 'off', true)",
                    [self.ignore])

    def _copy(self, cur, table: CopyTable, lines, chunk: int = 5000) -> int:
        n = 0
        started = time.monotonic()
        with cur.copy(table.sql) as cp:
            if isinstance(lines, list):
                for i in range(0, len(lines), chunk):
                    cp.write("".join(lines[i:i + chunk]))
                n = len(lines)
            else:
                buf = []
                for line in lines:
                    buf.append(line)
                    if len(buf) >= chunk:
                        cp.write("".join(buf))
                        n += len(buf)
                        buf.clear()
                if buf:
                    cp.write("".join(buf))
                    n += len(buf)
        self._add_seconds(table.table, started)
        return n

    def _add_seconds(self, name: str, since: float):
        self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - since

    # -- generators

    def _phone_fn(self, rng: Random, spec):
        if not spec:
            return None
        if spec[0] == "US":
            codes = spec[1]
            randint, choice = rng.randint, rng.choice

            def us():
                while True:
                    exchange = randint(200, 999)
                    if exchange != 555 and exchange % 100 != 11:
                        return f"+1{choice(codes)}{exchange}{randint(0, 9999):04d}"
            return us
        choices = spec
        randrange, choice = rng.randrange, rng.choice

        def other():
            prefix, digits = choice(choices)
            return f"{prefix}{randrange(10 ** digits):0{digits}d}"
        return other

    def _postal(self, rng: Random, spec) -> str:
        kind = spec[0]
        if kind == "us":
            return f"{spec[1]}{rng.randint(1, 99):02d}"
        if kind == "ca":
            L = "ABCEGHJKLMNPRSTVXY"
            return f"{spec[1]}{rng.randint(1, 9)}{rng.choice(L)} {rng.randint(1, 9)}{rng.choice(L)}{rng.randint(0, 9)}"
        if kind == "gb":
            return (f"{rng.choice(spec[1])} {rng.randint(1, 9)}"
                    f"{rng.choice(POSTCODE_LETTERS)}{rng.choice(POSTCODE_LETTERS)}")
        if kind == "de":
            return f"{rng.choice(spec[1])}{rng.randint(0, 999):03d}"
        if kind == "nl":
            letters = "ABCDEGHJKLMNPRSTVWXZ"
            return f"{spec[1]}{rng.randint(10, 99)} {rng.choice(letters)}{rng.choice(letters)}"
        if kind == "ie":
            return f"{spec[1]}{rng.randint(1, 8)} {rng.choice('ACDEFHKNPRTVWXY')}{rng.randint(100, 999)}"
        digits = spec[2]
        return f"{spec[1]}{rng.randrange(10 ** digits):0{digits}d}"

    def _street(self, rng: Random, style: str) -> str:
        if style == "us":
            return f"{rng.randint(1, 9999)} {rng.choice(US_STREETS)} {rng.choice(US_SUFFIX)}"
        if style == "gb":
            return f"{rng.randint(1, 250)} {rng.choice(GB_STREETS)}"
        if style == "de":
            return f"{rng.choice(DE_STREETS)} {rng.randint(1, 180)}"
        if style == "fr":
            return f"{rng.randint(1, 120)} {rng.choice(FR_STREETS)}"
        return f"{rng.choice(OTHER_STREETS)} {rng.randint(1, 300)}"

    def _city_picker(self, rng: Random):
        """A weighted picker of cities (dicts with their address and phone generators)."""
        by_country: dict[str, list] = {}
        for c in CITIES:
            by_country.setdefault(c[0], []).append(c)
        cities, weights = [], []
        for country, rows in by_country.items():
            for (cc, city, region, tz, phone, mobile, postal, style) in rows:
                cities.append({
                    "country": cc, "city": city, "region": region, "tz": tz, "postal": postal, "style": style,
                    "phone": self._phone_fn(rng, phone), "mobile": self._phone_fn(rng, mobile),
                })
                weights.append(COUNTRY_WEIGHTS[country] / len(rows))
        return _picker(rng, cities, weights)

    # -- companies

    def load_companies(self, rng: Random, plan: OrgPlan, n: int, pick_city, pick_owner) -> list[dict]:
        from django.db import transaction

        companies: list[dict] = []
        if n <= 0:
            return companies
        org_id, admin_id = plan.organization.pk, plan.admin.pk
        pick_size = _picker(rng, SIZE_BANDS, [s[1] for s in SIZE_BANDS])
        suffix = self.company_t.suffix
        span = self.now - self.start
        with transaction.atomic(), self._raw().cursor() as cur:
            self._begin(cur)
            ids = self._reserve_ids(cur, self.company_t.table, n)

            def rows():
                for k, cid in enumerate(ids):
                    a, b = rng.choice(COMPANY_WORD_A), rng.choice(COMPANY_WORD_B)
                    c, industry = rng.choice(COMPANY_WORD_C)
                    if a == b:
                        b = "Point"
                    city = pick_city()
                    country = city["country"]
                    legal = rng.choice(LEGAL_SUFFIX.get(country, [""]))
                    name = f"{a} {b} {c}" + (f" {legal}" if legal else "")
                    domain = f"{ascii_slug(a)}{ascii_slug(b)}{ascii_slug(c)}{k + 1}.test"
                    size, _, lo, hi = pick_size()
                    revenue = f"{rng.randint(lo, hi)}.00" if size and rng.random() < 0.7 else NULL
                    phone_fn = city["phone"]
                    phone = phone_fn() if phone_fn and rng.random() < 0.85 else ""
                    # Companies mostly exist before their contacts: first two thirds of the window.
                    created = self.start - 30 * 86400 + (span * 0.66) * (k + rng.random()) / n
                    updated = created + (self.now - created) * rng.random() * 0.5
                    parent = companies[rng.randrange(k)]["id"] if k > 10 and rng.random() < 0.05 else None
                    owner_id, _team = pick_owner() if rng.random() < 0.9 else (None, None)
                    has_address = rng.random() < 0.85
                    companies.append({"id": cid, "name": name, "domain": domain, "industry": industry,
                                      "city": city})
                    yield (
                        f"{cid}\t{org_id}\t{_ts(created)}\t{_ts(updated)}\t{name}\t{domain}\t"
                        f"https://www.{domain}\t{phone}\t{industry}\t{size}\t{revenue}\t"
                        f"{CURRENCY.get(country, 'USD') if revenue != NULL else ''}\t"
                        f"{city['tz'] if rng.random() < 0.9 else ''}\t"
                        f"{rng.randint(1950, 2023) if rng.random() < 0.7 else NULL}\t"
                        f"{rng.choice(DESCRIPTIONS) if rng.random() < 0.05 else ''}\t"
                        f"{parent if parent else NULL}\t{owner_id if owner_id else NULL}\t{admin_id}\t"
                        f"{self._street(rng, city['style']) if has_address else ''}\t{city['city']}\t"
                        f"{city['region']}\t{self._postal(rng, city['postal']) if has_address else ''}\t"
                        f"{country}\t{fold(name)}{suffix}"
                    )

            self.counts["companies"] += self._copy(cur, self.company_t, rows())
            committing = time.monotonic()
        self._add_seconds("commit (deferred FK checks)", committing)
        return companies

    # -- contacts and their rows

    def load_org(self, rng: Random, plan: OrgPlan, org_index: int, org_total: int):
        from django.db import transaction

        n = plan.n_contacts
        org_id, admin_id = plan.organization.pk, plan.admin.pk
        pick_city = self._city_picker(rng)
        pick_owner = _picker(rng, plan.owners, plan.owner_weights)
        companies = self.load_companies(rng, plan, round(n / 20) if n >= 20 else (1 if n else 0), pick_city,
                                        pick_owner)
        self.progress.add(f"org {org_index}/{org_total} {plan.organization.name}: {len(companies):,} companies",
                          rows=len(companies))
        if n == 0:
            return
        st = SimpleNamespace(
            rng=rng, plan=plan, n=n, span=self.now - self.start, org_id=org_id, admin_id=admin_id,
            pick_city=pick_city, pick_owner=pick_owner, companies=companies,
            # Company popularity: a capped heavy tail (a few big accounts with a few hundred contacts
            # at 100k contacts per organization; the median company has about ten).
            pick_company=_picker(rng, range(len(companies)), [min(rng.paretovariate(1.2), 60.0) for _ in companies]),
            pick_tag=_picker(rng, plan.tag_ids, [1.0 / (i + 1) ** 0.8 for i in range(len(plan.tag_ids))]),
            pick_tag_count=_picker(rng, [0, 1, 2, 3], [30, 35, 25, 10]),
            pick_source=_picker(rng, [s for s, _ in SOURCES], [w for _, w in SOURCES]),
            pick_stage=_picker(rng, STAGES, [s[1] for s in STAGES]),
            pick_channels=_picker(rng, [c for c, _ in CHANNEL_SETS], [w for _, w in CHANNEL_SETS]),
            pick_time=_picker(rng, [c for c, _ in CONTACT_TIMES], [w for _, w in CONTACT_TIMES]),
            pick_opt_ins=_picker(rng, [c for c, _ in OPT_IN_SETS], [w for _, w in OPT_IN_SETS]),
            pick_activity=_picker(rng, ACTIVITY_TYPES, [a[1] for a in ACTIVITY_TYPES]),
            pick_activity_count=_picker(rng, [c for c, _ in ACTIVITY_COUNT_WEIGHTS],
                                        [w for _, w in ACTIVITY_COUNT_WEIGHTS]),
            first_slug={name: ascii_slug(name, "-") for name in FIRST_NAMES},
            last_slug={name: ascii_slug(name, "-") for name in LAST_NAMES},
            all_ids=[],       # contacts of this organization so far
            by_company={},    # company id -> its first contacts
        )
        done = 0
        while done < n:
            size = min(self.batch, n - done)
            with transaction.atomic(), self._raw().cursor() as cur:
                self._begin(cur)
                ids = self._reserve_ids(cur, self.contact_t.table, size)
                rows = SimpleNamespace(tags=[], links=[], relationships=[], activities=[])
                contact_rows = self._contact_rows(st, ids, done, rows)
                self.counts["contacts"] += self._copy(cur, self.contact_t, contact_rows, chunk=2000)
                self.counts["contact_tags"] += self._copy(cur, self.tag_t, rows.tags)
                self.counts["contact_companies"] += self._copy(cur, self.link_t, rows.links)
                self.counts["relationships"] += self._copy(cur, self.rel_t, rows.relationships)
                self.counts["activities"] += self._copy(cur, self.activity_t, rows.activities)
                committing = time.monotonic()
            self._add_seconds("commit (deferred FK checks)", committing)
            done += size
            self.progress.add(f"org {org_index}/{org_total}", contacts=size,
                              rows=size + sum(len(v) for v in vars(rows).values()))

    def _contact_rows(self, st, ids: list[int], offset: int, rows):
        """COPY lines of the contacts with these ids (the offset-th contact onwards of the
        organization); their tags, company links, relationships and activities go to rows."""
        from contacts.models import build_display_name

        rng, plan, n, span, org_id, admin_id = st.rng, st.plan, st.n, st.span, st.org_id, st.admin_id
        pick_city, pick_owner, companies, pick_company = st.pick_city, st.pick_owner, st.companies, st.pick_company
        pick_tag, pick_tag_count = st.pick_tag, st.pick_tag_count
        pick_source, pick_stage = st.pick_source, st.pick_stage
        pick_channels, pick_time, pick_opt_ins = st.pick_channels, st.pick_time, st.pick_opt_ins
        pick_activity, pick_activity_count = st.pick_activity, st.pick_activity_count
        first_slug, last_slug, all_ids, by_company = st.first_slug, st.last_slug, st.all_ids, st.by_company
        tag_rows, link_rows, rel_rows, activity_rows = rows.tags, rows.links, rows.relationships, rows.activities
        r = rng.random
        randint, choice, randrange = rng.randint, rng.choice, rng.randrange
        now, start = self.now, self.start
        c_suffix, t_suffix, l_suffix = self.contact_t.suffix, self.tag_t.suffix, self.link_t.suffix
        r_suffix, a_suffix = self.rel_t.suffix, self.activity_t.suffix
        team_ids = plan.team_ids
        n_first, n_last = len(FIRST_NAMES), len(LAST_NAMES)
        ts = _ts
        dumps = json.dumps
        no_company = None

        for j, cid in enumerate(ids):
            i = offset + j  # index of the contact in its organization
            # -- name
            if r() < 0.015:
                first, last, fs, ls = choice(NON_LATIN_NAMES)
            else:
                # Skewed towards the common names at the front of the lists.
                first = FIRST_NAMES[int(n_first * r() ** 1.6)]
                last = LAST_NAMES[int(n_last * r() ** 1.4)] if r() < 0.98 else ""
                fs, ls = first_slug[first], last_slug.get(last, "")
            middle = FIRST_NAMES[randrange(n_first)] if r() < 0.12 else ""
            display = build_display_name(first, middle, last)

            # -- owner and team
            u = r()
            if u < 0.02:
                owner_id = team_id = None
            elif u < 0.07:
                owner_id, team_id = None, choice(team_ids)
            else:
                owner_id, team_id = pick_owner()

            # -- company, place
            company = companies[pick_company()] if companies and r() < 0.9 else no_company
            city = company["city"] if company is not None and r() < 0.8 else pick_city()
            country = city["country"]

            # -- created/updated (ids and created_at rise together, with some jitter)
            created = start + span * ((i + r()) / n) ** 0.75 + (r() - 0.5) * 7200
            if created > now - 60:
                created = now - 60 - r() * 3600

            # -- email, phones
            if r() < 0.05:
                email = ""
            else:
                domain = company["domain"] if company is not None and r() < 0.75 else choice(PERSONAL_DOMAINS)
                email = f"{fs}.{ls}.{i + 1}@{domain}" if ls else f"{fs}.{i + 1}@{domain}"
            phone_fn, mobile_fn = city["phone"], city["mobile"]
            phone = phone_fn() if phone_fn is not None and r() < 0.91 else ""
            mobile = mobile_fn() if mobile_fn is not None and r() < 0.90 else ""

            # -- work
            if r() < 0.92:
                job_title, department = choice(JOB_TITLES)
                if r() < 0.15:
                    department = ""
            else:
                job_title = department = ""
            industry = company["industry"] if company is not None else (choice(INDUSTRIES) if r() < 0.6 else "")

            # -- lifecycle
            source = pick_source()
            details = SOURCE_DETAILS.get(source)
            source_detail = choice(details) if details and r() < 0.6 else ""
            stage, _, lo, hi = pick_stage()
            score = randint(lo, hi)

            # -- custom fields (valid for the organization's definitions)
            cf = {}
            if r() < 0.7:
                cf["preferred_language"] = LANGUAGE_BY_COUNTRY.get(country, "English") if r() < 0.9 \
                    else choice(LANGUAGES)
            if r() < 0.5:
                cf["annual_budget"] = randint(1, 400) * 500
            if r() < 0.35:
                cf["renewal_date"] = date.fromtimestamp(now + (r() * 540 - 180) * 86400).isoformat()
            if r() < 0.8:
                cf["newsletter"] = r() < 0.4
            custom = dumps(cf, ensure_ascii=False, separators=(", ", ": ")) if cf else "{}"

            # -- activities (occurred between creation and now)
            last_activity = last_contacted = None
            actor = owner_id or admin_id
            k = pick_activity_count()
            for _ in range(k):
                a_type, _w, direction, subjects = pick_activity()
                occurred = created + (now - created) * r()
                if direction is None:
                    direction = "outbound" if r() < 0.7 else "inbound"
                subject = choice(subjects)
                if company is not None:
                    subject = subject.replace("{company}", company["name"])
                else:
                    subject = subject.replace(" for {company}", "").replace(" with {company}", "")
                body = choice(ACTIVITY_BODIES).replace("{n}", str(randint(5, 200))) if r() < 0.7 else ""
                status, due, completed, assigned = "done", NULL, NULL, NULL
                metadata = "{}"
                if a_type == "call":
                    metadata = f'{{"duration_seconds": {randint(20, 3600)}}}'
                elif a_type == "stage_change":
                    metadata = f'{{"to": "{stage}"}}'
                    subject = f"Lifecycle stage changed to {stage}"
                elif a_type == "task":
                    assigned = actor
                    due = ts(occurred + randint(1, 21) * 86400)
                    if r() < 0.6:
                        finished = occurred + (now - occurred) * r()
                        completed = ts(finished)
                    else:
                        status = "planned"
                elif a_type in ("sms_sent", "sms_received"):
                    body = ("Thanks, talk soon!" if a_type == "sms_received"
                            else f"Hi {first}, are you free for a quick call?")
                activity_company = company["id"] if company is not None and r() < 0.3 else NULL
                occ = ts(occurred)
                activity_rows.append(
                    f"{occ}\t{occ}\t{a_type}\t{direction}\t{status}\t{occ}\t{subject}\t{body}\t{metadata}\t"
                    f"{due}\t{completed}\t{actor}\t{assigned}\t{activity_company}\t{cid}\t{org_id}{a_suffix}"
                )
                if last_activity is None or occurred > last_activity:
                    last_activity = occurred
                if a_type in CONTACT_ACTIVITY_TYPES and (last_contacted is None or occurred > last_contacted):
                    last_contacted = occurred

            updated = max(created + r() * min(now - created, 30 * 86400), last_activity or 0)
            deleted = NULL
            if r() < 0.005:
                deleted_at = updated + (now - updated) * r()
                updated = deleted_at
                deleted = ts(deleted_at)
            created_s = ts(created)

            # -- tags
            kt = pick_tag_count()
            if kt:
                chosen = set()
                while len(chosen) < kt:
                    chosen.add(pick_tag())
                for tag_id in chosen:
                    tag_rows.append(f"{created_s}\t{created_s}\t{cid}\t{org_id}\t{tag_id}{t_suffix}")

            # -- companies (primary link, a few second links)
            if company is not None:
                decision = choice(DECISION_ROLES) if r() < 0.5 else ""
                link_rows.append(f"{created_s}\t{created_s}\t{job_title}\t{decision}\tt\t{company['id']}\t{cid}\t"
                                 f"{org_id}{l_suffix}")
                if r() < 0.04 and len(companies) > 1:
                    other = companies[pick_company()]
                    if other is not company:
                        link_rows.append(f"{created_s}\t{created_s}\tAdvisor\t\tf\t{other['id']}\t{cid}\t"
                                         f"{org_id}{l_suffix}")

            # -- relationships: mostly colleagues at the same company, else anyone earlier
            if all_ids and r() < 0.05:
                colleagues = by_company.get(company["id"]) if company is not None else None
                if colleagues:
                    to_id, rel_type = choice(colleagues), choice(RELATIONSHIP_COLLEAGUE)
                else:
                    to_id, rel_type = all_ids[randrange(len(all_ids))], choice(RELATIONSHIP_OTHER)
                rel_rows.append(f"{created_s}\t{created_s}\t{rel_type}\t\t{cid}\t{org_id}\t{to_id}{r_suffix}")
            all_ids.append(cid)
            if company is not None:
                lst = by_company.setdefault(company["id"], [])
                if len(lst) < 50:
                    lst.append(cid)

            # -- address
            if r() < 0.97:
                has_street = r() < 0.85
                street = self._street(rng, city["style"]) if has_street else ""
                postal = self._postal(rng, city["postal"]) if has_street else ""
                city_name, region = city["city"], city["region"]
                tz = city["tz"] if r() < 0.85 else ""
            else:
                street = postal = city_name = region = tz = country = ""

            birth = date.fromordinal(randint(714_000, 731_000)).isoformat() if r() < 0.25 else NULL
            linkedin = f"https://www.linkedin.com/in/{fs}-{ls}-{i + 1}" if r() < 0.35 else ""
            twitter = f"@{fs}{ls}{i + 1}"[:30] if r() < 0.08 else ""
            website = f"https://{fs}{ls}{i + 1}.test" if r() < 0.04 else ""
            description = choice(DESCRIPTIONS) if r() < 0.08 else ""
            created_by = admin_id if source == "import" or owner_id is None else owner_id

            yield (
                f"{cid}\t{org_id}\t{created_s}\t{ts(updated)}\t{team_id or NULL}\t{owner_id or NULL}\t"
                f"{first}\t{middle}\t{last}\t{display}\t{email}\t{phone}\t{mobile}\t{job_title}\t{department}\t"
                f"{birth}\t{website}\t{linkedin}\t{twitter}\t{source}\t{source_detail}\t{stage}\t{score}\t"
                f"{industry}\t{description}\t{tz}\t{pick_channels()}\t{pick_time()}\t{pick_opt_ins()}\t{custom}\t"
                f"{ts(last_activity) if last_activity else NULL}\t{ts(last_contacted) if last_contacted else NULL}\t"
                f"{created_by}\t{deleted}\t{street}\t{city_name}\t{region}\t{postal}\t{country}\t"
                f"{fold(display)}\t{fold(build_display_name(last, first, middle))}\t"
                f"{company['name'] if company is not None else ''}\t"
                f"{' '.join(d for d in (digits(phone), digits(mobile)) if d)}{c_suffix}"
            )


# --------------------------------------------------------------------------- entry point

LOADED_TABLES = [
    "crm_organization", "crm_user", "crm_team", "crm_membership", "crm_tag", "crm_customfielddefinition",
    "companies_company", "contacts_contact", "contacts_contacttag", "contacts_contactcompany",
    "contacts_contactrelationship", "activities_activity", "contacts_nameword",
]


def seed_demo(*, contacts: int, orgs: int, seed: int = DEFAULT_SEED, batch: int = DEFAULT_BATCH,
              password: str = DEFAULT_PASSWORD, jobs: int = DEFAULT_JOBS, analyze: bool = True,
              vacuum: bool = False, out: Callable[[str], None] = print) -> dict:
    """Create `orgs` demo organizations sharing `contacts` contacts evenly. Returns row counts.

    Organizations are loaded by up to `jobs` threads, each with its own connection: the
    server's index, constraint and foreign-key work (most of the time) then runs on several
    cores while Python generates rows. Each organization has its own seeded generator, so the
    data does not depend on `jobs`.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pgtrigger
    from django.db import connection, transaction

    from crm.models import Organization
    from crm.services import recount_tag_usage

    if contacts < 0 or orgs < 1:
        raise ValueError("need contacts >= 0 and orgs >= 1")
    started = time.monotonic()
    uris, pgids = audited_trigger_uris()
    base, extra = divmod(contacts, orgs)

    # 1. Organizations, members, tags, custom fields: validated, through the services.
    plans: list[OrgPlan] = []
    number = Organization.objects.count() + 1
    with pgtrigger.ignore(*uris):
        for k in range(orgs):
            number = _free_org_number(number)
            rng = Random(f"{seed}:org:{k}")
            with transaction.atomic():
                plans.append(create_org(rng, number, base + (1 if k < extra else 0), password))
            number += 1
    out(f"created {orgs} organization(s) with {sum(len(p.user_emails) for p in plans)} users "
        f"in {time.monotonic() - started:.1f}s")

    # 2. Bulk rows through COPY.
    progress = _Progress(out, contacts)
    now = time.time()

    def load(k: int, plan: OrgPlan) -> Loader:
        loader = Loader(now=now, batch=batch, ignore_pgids=pgids, progress=progress)
        loader.load_org(Random(f"{seed}:data:{k - 1}"), plan, k, len(plans))
        return loader

    def load_in_thread(k: int, plan: OrgPlan) -> Loader:
        try:
            return load(k, plan)
        finally:
            connection.close()  # this thread's own connection

    workers = max(1, min(jobs, len(plans)))
    if workers == 1:
        loaders = [load(k, plan) for k, plan in enumerate(plans, start=1)]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seed") as pool:
            futures = [pool.submit(load_in_thread, k, plan) for k, plan in enumerate(plans, start=1)]
            loaders = [f.result() for f in futures]
    load_seconds = time.monotonic() - progress.start
    table_counts: dict[str, int] = {}
    table_seconds: dict[str, float] = {}
    for loader in loaders:
        for name, value in loader.counts.items():
            table_counts[name] = table_counts.get(name, 0) + value
        for name, value in loader.seconds.items():
            table_seconds[name] = table_seconds.get(name, 0.0) + value

    # 3. Cached tag counts, the name vocabulary for typo search, planner statistics.
    from contacts.models import NameWord

    with pgtrigger.ignore(*uris):
        for plan in plans:
            recount_tag_usage(plan.organization.pk)
            NameWord.rebuild(plan.organization.pk)
    t = time.monotonic()
    with connection.cursor() as cur:
        if vacuum or analyze:
            statement = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
            for table in LOADED_TABLES:
                cur.execute(f'{statement} "{table}"')
    analyze_seconds = time.monotonic() - t

    total = time.monotonic() - started
    counts = dict(table_counts, organizations=len(plans), users=sum(len(p.user_emails) for p in plans))
    rows = sum(table_counts.values())
    out(f"done: {rows:,} rows in {total:.1f}s (bulk load {load_seconds:.1f}s with {workers} worker(s), "
        f"{'vacuum+analyze' if vacuum else 'analyze'} {analyze_seconds:.1f}s)")
    out("  " + ", ".join(f"{name} {value:,}" for name, value in counts.items()))
    out("  COPY time per table, summed over workers (contacts include generating them; foreign keys are "
        "checked at commit): " + ", ".join(f"{table} {seconds:.1f}s" for table, seconds in table_seconds.items()))
    for plan in plans:
        out(f"  {plan.organization.name}: admin {plan.user_emails[0]}, e.g. {plan.user_emails[2]}, "
            f"{plan.user_emails[-1]}")
    out(f"  password for every demo user: {password}")
    counts["seconds"] = round(total, 1)
    return counts
