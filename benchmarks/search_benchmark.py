"""Knowledge-base search at scale: the portal's backends (Whoosh, PostgreSQL) and FTS5.

    .venv/bin/python benchmarks/search_benchmark.py [--articles 100000] [--queries 500]
        [--tail 20000] [--budget 150] [--breakdown 100] [--no-http] [--duration 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Generates N synthetic Spanish knowledge-base articles (deterministic, random.Random(42)):
~300 municipal-service lemmas and their inflections are the head of a Zipf-like
vocabulary, and ``--tail`` generated Spanish-looking lemmas its long tail, so that the
vocabulary grows with the text as real text does (Heaps' law: 100,000 articles hold
about 100,000 distinct words; with ``--tail 0`` they hold 2,300 and every content word is
in a sizeable share of the articles). Then, in the same run:

1. indexes them with ``WhooshBackend.rebuild`` and times ``WhooshBackend.search`` (the
   real page cost: ranking, facets, highlights, "did you mean") over a fixed query mix;
   also a "raw" Whoosh figure (parse + top 10, no facets or highlights) and a step by
   step breakdown. Whoosh answers a query slowly at 100 000 articles, so the pass stops
   once ``--budget`` seconds are spent and every comparison uses the queries answered;
2. indexes the same articles in SQLite FTS5 (one transaction) and runs the same queries
   as ``MATCH`` ranked by bm25(t, 3.0, 1.0), LIMIT 10, with ``snippet()``. Terms are
   OR-ed for the baseline (an AND row is printed for reference; the portal's Whoosh
   search tries all the words first and any of them when that finds nothing). FTS5
   neither stems nor counts the matches nor computes facets, so it does less than the
   page;
2b. (``--postgres``, '' to skip) in a scratch database on that server, migrates, indexes
   the same articles with ``PostgresBackend.rebuild`` (one transaction, then VACUUM
   ANALYZE, as autovacuum would after a bulk load) and times ``PostgresBackend.search``
   over the same queries: ranking, facets, headlines and "did you mean", as the page;
3. (``--http``, default on) serves the portal with gunicorn (2 workers x 4 threads) from
   a temporary instance holding that index (and the departments, no articles: the hits
   come from the index) and measures requests/s of a hello-world route, ``/healthz`` and
   ``/kb?q=`` (the measured queries in turn) on loopback with wrk (or a Python client);
   then ``/kb?q=`` again on a server started without the results cache, where every
   request runs its search. Each request opens its own
   connection, as nginx does towards gunicorn: kept-alive connections stay with one of
   the two workers and made the /kb figure swing by 2x from run to run.

Prints figures and whether the targets hold; it never asserts timings.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import http.client
import itertools
import os
import pstats
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from whoosh.query import And, Phrase, Term  # noqa: E402

from portal import create_app  # noqa: E402
from portal.search import whoosh_backend  # noqa: E402
from portal.search.base import SearchDocument, SearchQuery  # noqa: E402
from portal.search.whoosh_backend import WhooshBackend, query_parts  # noqa: E402

WARMUP = 20
WORD = re.compile(r"\w+", re.UNICODE)

# ---------------------------------------------------------------- vocabulary


def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words("""
padrón empadronamiento certificado volante licencia obra permiso autorización multa
sanción impuesto tasa tributo recibo pago plazo fraccionamiento domiciliación
bonificación exención plusvalía vehículo matrícula basura residuo recogida contenedor
reciclaje vidrio papel envase aceite trasto punto vivienda alquiler hipoteca ayuda
subvención beca escuela colegio guardería biblioteca polideportivo piscina parque jardín
árbol poda calle acera farola alumbrado bache asfalto tráfico aparcamiento grúa vado
autobús parada línea bicicleta taxi ruido vecino comunidad edificio fachada terraza
mercado comercio actividad apertura declaración cita trámite solicitud instancia
registro sede firma pasaporte extranjería matrimonio pareja nacimiento defunción
cementerio nicho agua suministro alcantarillado fuga inundación incendio bombero policía
denuncia recurso alegación familia discapacidad dependencia teleasistencia comedor
empleo formación curso taller cultura fiesta evento deporte instalación reserva pista
tarjeta transporte perro animal mascota chip censo limpieza pintada banco papelera
plaga rata mosquito ayuntamiento concejalía distrito barrio junta pleno consulta
participación presupuesto propuesta queja sugerencia reclamación información atención
oficina horario teléfono correo dirección documento justificante copia notificación
expediente número referencia estado resolución respuesta ciudadano persona menor
mayor vecindario obra vía semáforo paso cruce rotonda carril zona estacionamiento
""")
VERBS = _words("""
solicitar pagar presentar tramitar renovar consultar reservar denunciar reclamar
empadronar inscribir cambiar retirar recoger reparar limpiar podar instalar cortar
aparcar circular necesitar llamar enviar adjuntar firmar descargar rellenar acreditar
justificar comunicar notificar modificar anular cancelar cobrar autorizar multar
sancionar informar contactar esperar caducar tramitar domiciliar fraccionar bonificar
gestionar pedir obtener tener hacer poder deber saber atender recibir abrir escribir
cumplir prohibir permitir vender resolver devolver conceder ofrecer
""")
ADJECTIVES = _words("""
municipal público gratuito obligatorio necesario urgente nuevo antiguo roto dañado
sucio peligroso accesible disponible vigente caducado anual mensual próximo último
electrónico presencial telefónico digital oficial provisional definitivo completo
correcto incorrecto pendiente abierto cerrado social cultural deportivo económico
familiar escolar laboral sanitario ambiental urbano rural general local propio
""")
OTHER = _words("""
cómo cuándo dónde cuánto qué día semana mes año hora mañana tarde noche lunes viernes
primero segundo después antes siempre nunca ahora hoy solo además
""")
STOP = _words("""
de la que el en y a los se del las un por con no una su para es al lo como más o pero
sus le ha me si sin sobre este ya entre cuando todo esta ser son dos también hay desde
puede debe muy
""")
ENGLISH = _words("""
city council permit licence fine tax bill payment deadline waste collection bin recycling
housing rent grant school library sports pool park tree street pavement lamp traffic
parking tow bus stop bicycle noise neighbour building terrace market shop business
opening appointment application register office certificate residence registration
passport marriage birth water supply leak flood fire police complaint appeal family
disability care employment course event booking card transport dog pet census cleaning
graffiti bench pest district council budget proposal suggestion request answer
""")
ENGLISH_STOP = _words("the of to and a in for is on you your it with be can by at this")

DEPARTMENTS = {
    "atencion-ciudadana": ("Atención ciudadana", ["padron", "certificados", "cita-previa"]),
    "hacienda": ("Hacienda", ["impuestos", "ibi", "pagos", "bonificaciones"]),
    "movilidad": ("Movilidad", ["trafico", "aparcamiento", "autobus", "multas"]),
    "medio-ambiente": ("Medio ambiente", ["residuos", "reciclaje", "parques", "ruido"]),
    "urbanismo": ("Urbanismo", ["licencias", "obras", "vivienda"]),
    "servicios-sociales": ("Servicios sociales", ["ayudas", "mayores", "dependencia"]),
    "cultura": ("Cultura", ["bibliotecas", "fiestas", "cursos"]),
    "deportes": ("Deportes", ["instalaciones", "reservas", "piscinas"]),
}
# The most frequent lemmas, in order: what most municipal answers talk about.
HEAD = _words("""
solicitud ayuntamiento solicitar información trámite plazo municipal documento pagar
presentar ciudadano oficina cita certificado necesario registro electrónico persona
""")
MANDELBROT = 8
# Real text keeps meeting new words (Heaps' law: ~100,000 distinct forms in 13 million
# words of Spanish); the ~300 municipal lemmas above are the head of the vocabulary and
# TAIL_LEMMAS generated Spanish-looking lemmas (place and street names, trades, objects,
# the long tail of what citizens write about) are the rest.
TAIL_LEMMAS = 20_000  # --tail
ONSETS = _words("b c d f g l m n p r s t v ch br tr pl gr cl pr fl j ll z")
CODAS = ["", "", "", "n", "r", "s", "l"]
GENERAL_TAGS = ["tramites", "sede-electronica", "plazos", "documentacion"]


def _strip_last_accent(word: str) -> str:
    for accented, plain in zip("áéíóú", "aeiou", strict=True):
        position = word.rfind(accented)
        if position >= len(word) - 3 and position != -1:
            return word[:position] + plain + word[position + 1:]
    return word


def _plural(noun: str) -> str:
    if noun[-1] in "aeiouáéó":
        return noun + "s"
    if noun.endswith("z"):
        return noun[:-1] + "ces"
    return _strip_last_accent(noun) + "es"


def _verb_forms(verb: str) -> list[str]:
    stem, ending = verb[:-2], verb[-2:]
    if ending == "ar":
        endings = ["ar", "a", "ado", "an", "e", "o", "ada", "ando", "amos", "ados", "as",
                   "en", "ó", "adas", "ará", "aremos", "é", "aba", "aban", "ara", "aron"]
    else:
        vowel = "e" if ending == "er" else "i"
        endings = [ending, "e", "ido", "en", "a", "o", "ida", "iendo", vowel + "mos", "idos",
                   "es", "an", "ió", "idas", ending[0] + "rá", "í", "ía", "ían", "ieron"]
    forms = [stem + end for end in endings]
    forms += [verb + clitic for clitic in ("lo", "la", "se")]
    if ending == "ar":
        forms.append(stem + "ación")
    return forms


def _adjective_forms(adjective: str) -> list[str]:
    if adjective.endswith("o"):
        stem = adjective[:-1]
        forms = [adjective, stem + "a", stem + "os", stem + "as"]
        forms.append(_strip_last_accent(stem) + "amente")
    else:
        forms = [adjective, _plural(adjective), adjective + "mente"]
    return forms


def _pseudo_word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(ONSETS) + rng.choice("aaeeiou") + rng.choice(CODAS)
                   for _ in range(syllables))


def _tail_lemmas(rng: random.Random, taken: set[str], count: int) -> list[list[str]]:
    """``count`` invented nouns, verbs and adjectives, inflected like the real ones."""
    lemmas = []
    while len(lemmas) < count:
        root = _pseudo_word(rng, rng.choice([1, 2, 2, 3]))
        kind = rng.random()
        if kind < 0.6:
            word = root + rng.choice(["a", "o", "ón", "ez", "ero", "al", "ía"])
            forms = [word, _plural(word)]
        elif kind < 0.8:
            word = root + rng.choice(["ar", "ar", "er", "ir"])
            forms = _verb_forms(word)
        else:
            forms = _adjective_forms(root + rng.choice(["o", "al", "ble", "ivo"]))
        if forms[0] not in taken:
            taken.update(forms)
            lemmas.append(forms)
    return lemmas


def build_vocabulary(rng: random.Random, tail: int = TAIL_LEMMAS,
                     ) -> tuple[list[str], list[float], list[str]]:
    """Content words and their Zipf-like weights, plus each word's department pool.

    Lemmas are ranked (the generic words of HEAD first, the rest shuffled) and weighted
    Zipf-Mandelbrot, 1/(rank + MANDELBROT); a lemma's inflections share its weight, the
    first forms (singular, infinitive) most. Returns (words, weights, department).
    """
    lemmas: list[list[str]] = [[noun, _plural(noun)] for noun in dict.fromkeys(NOUNS)]
    lemmas += [_verb_forms(verb) for verb in dict.fromkeys(VERBS)]
    lemmas += [_adjective_forms(adjective) for adjective in dict.fromkeys(ADJECTIVES)]
    lemmas += [[word] for word in dict.fromkeys(OTHER)]
    rng.shuffle(lemmas)
    lemmas += _tail_lemmas(rng, {form for forms in lemmas for form in forms}, tail)
    lemmas.sort(key=lambda forms: HEAD.index(forms[0]) if forms[0] in HEAD else len(HEAD))
    slugs = list(DEPARTMENTS)
    weights: dict[str, float] = {}
    pools: dict[str, str] = {}
    for rank, forms in enumerate(lemmas, start=1):
        form_weights = [1 / (position + 1) ** 1.3 for position in range(len(forms))]
        total = sum(form_weights)
        # The generic words and a third of the others are shared by every department.
        pool = slugs[rank % len(slugs)] if rank > len(HEAD) and rank % 3 else ""
        for form, form_weight in zip(forms, form_weights, strict=True):
            if form not in weights:
                weights[form] = 0.0
                pools[form] = pool
            weights[form] += form_weight / total / (rank + MANDELBROT)
    words = sorted(weights, key=weights.get, reverse=True)
    return words, [weights[word] for word in words], [pools[word] for word in words]


class Corpus:
    """Per-department word distributions: stop words, department words, general words."""

    def __init__(self, rng: random.Random, tail: int = TAIL_LEMMAS) -> None:
        self.rng = rng
        self.words, self.weights, pools = build_vocabulary(rng, tail)
        self.stop = set(STOP)
        stop_weights = [1 / rank for rank in range(1, len(STOP) + 1)]
        self.tables: dict[str, tuple[list[str], list[float]]] = {}
        for slug in DEPARTMENTS:
            mine = [(w, x) for w, x, p in zip(self.words, self.weights, pools, strict=True)
                    if p == slug]
            self.tables[slug] = self._mix([(STOP, stop_weights, 0.38),
                                           ([w for w, _ in mine], [x for _, x in mine], 0.22),
                                           (self.words, self.weights, 0.40)])
        english_weights = [1 / rank for rank in range(1, len(ENGLISH) + 1)]
        stop_weights = [1 / rank for rank in range(1, len(ENGLISH_STOP) + 1)]
        self.tables["en"] = self._mix([(ENGLISH_STOP, stop_weights, 0.4),
                                       (ENGLISH, english_weights, 0.6)])

    @staticmethod
    def _mix(parts) -> tuple[list[str], list[float]]:
        words, cumulative, running = [], [], 0.0
        for part_words, part_weights, share in parts:
            total = sum(part_weights)
            for word, weight in zip(part_words, part_weights, strict=True):
                running += share * weight / total
                words.append(word)
                cumulative.append(running)
        return words, cumulative

    def _text(self, table: str, count: int) -> list[str]:
        words, cumulative = self.tables[table]
        return self.rng.choices(words, cum_weights=cumulative, k=count)

    def _prose(self, tokens: list[str]) -> str:
        sentences, position = [], 0
        while position < len(tokens):
            length = self.rng.randint(8, 20)
            sentence = tokens[position:position + length]
            position += length
            if len(sentence) > 6 and self.rng.random() < 0.4:
                sentence[len(sentence) // 2] += ","
            sentences.append(" ".join(sentence).capitalize() + ".")
        return " ".join(sentences)

    def article(self, number: int) -> SearchDocument:
        rng = self.rng
        slug = rng.choice(list(DEPARTMENTS))
        locale = "en" if rng.random() < 0.03 else "es"
        table = "en" if locale == "en" else slug
        title = " ".join(self._text(table, rng.randint(4, 9))).capitalize()
        body = self._prose(self._text(table, rng.randint(60, 200)))
        own_tags = DEPARTMENTS[slug][1] + GENERAL_TAGS
        tags = tuple(rng.sample(own_tags, rng.randint(1, 3)))
        return SearchDocument(doc_id=f"article:{number}", kind="article", title=title,
                              body=body, summary="", locale=locale, url=f"/kb/{number}",
                              department=slug, tags=tags)

    def queries(self, documents: list[SearchDocument], count: int) -> list[tuple[str, str]]:
        """(kind, text): 1-3 common or mid-frequency words; ~10 % real phrases; ~10 % typos."""
        rng = self.rng
        content = [word for word in self.words if word not in self.stop]
        common, mid = content[:100], content[100:1000]
        spanish = [document for document in documents if document.locale == "es"]
        queries = []
        for _ in range(count):
            roll = rng.random()
            if roll < 0.10:
                words = WORD.findall(rng.choice(spanish).body.lower())
                length = rng.randint(2, 3)
                start = rng.randrange(0, len(words) - length)
                while all(word in self.stop for word in words[start:start + length]):
                    start = rng.randrange(0, len(words) - length)
                queries.append(("phrase", '"' + " ".join(words[start:start + length]) + '"'))
                continue
            terms = [rng.choice(common if rng.random() < 0.5 else mid)
                     for _ in range(rng.choices([1, 2, 3], [4, 4, 2])[0])]
            kind = "typo" if roll < 0.20 else "words"
            if kind == "typo":
                victim = max(range(len(terms)), key=lambda index: len(terms[index]))
                terms[victim] = typo(rng, terms[victim])
            queries.append((kind, " ".join(terms)))
        return queries


def typo(rng: random.Random, word: str) -> str:
    position = rng.randrange(1, len(word))
    letter = rng.choice("abcdefghilmnoprstuv")
    kind = rng.choice(["replace", "delete", "insert"]) if len(word) > 3 else "insert"
    if kind == "replace":
        while letter == word[position]:
            letter = rng.choice("abcdefghilmnoprstuv")
        return word[:position] + letter + word[position + 1:]
    if kind == "delete":
        return word[:position] + word[position + 1:]
    return word[:position] + letter + word[position:]


# ---------------------------------------------------------------- helpers

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, .5), percentile(values, .95), percentile(values, .99)


def timed(function, queries: list[str], budget: float = 0) -> list[float]:
    """Milliseconds per query; stops early once ``budget`` seconds are spent (0: never)."""
    timings = []
    deadline = time.perf_counter() + budget
    for text in queries:
        started = time.perf_counter()
        function(text)
        timings.append((time.perf_counter() - started) * 1000)
        if budget and started > deadline:
            break
    return timings


def of_kind(timings: list[float], kinds: list[str], kind: str) -> list[float]:
    return [value for value, label in zip(timings, kinds, strict=True) if label == kind]


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


# ---------------------------------------------------------------- Whoosh

def whoosh_raw(backend: WhooshBackend):
    """Whoosh's own matchers and top-10 collector on the backend's index and words (all
    of them; the first language of each): no facets, highlights, fallback or "did you
    mean". What the backend did before it matched with set operations."""
    def run(text: str) -> None:
        searcher = backend._searcher()
        clauses = [Term(f"text_{language}", stems[0]) if len(stems) == 1
                   else Phrase(f"text_{language}", list(stems))
                   for choices in backend._words(query_parts(text), "es")
                   for language, stems, _boost in choices[:1]]
        if clauses:
            results = searcher.search(And(clauses), limit=10)
            [(hit["doc_id"], hit["title"]) for hit in results]
    return run


def whoosh_profile(backend: WhooshBackend, queries: list[str],
                   budget: float) -> tuple[list[tuple[str, float]], list[int]]:
    """Where backend.search spends its time, under cProfile, without mirroring its code.

    Each call the backend's module makes into another module (Whoosh, markupsafe...) is
    charged with its cumulative time, grouped as "backend function -> callee"; time in
    the module's own lines is "own code". Returns (shares of the total, match counts).
    """
    module = whoosh_backend.__file__
    profiler = cProfile.Profile()
    matches = []
    deadline = time.perf_counter() + budget
    for text in queries:
        if time.perf_counter() > deadline:
            break
        profiler.enable()
        results = backend.search(SearchQuery(text=text, locale="es", per_page=10))
        profiler.disable()
        matches.append(results.total)
    stats = pstats.Stats(profiler).stats
    charged: Counter[str] = Counter()
    total = 0.0
    for (path, _line, name), (_cc, _nc, own, cumulative, callers) in stats.items():
        if path == module:
            charged["own code"] += own
            if name == "search":
                total += cumulative
            continue
        for (caller_path, _caller_line, caller), figures in callers.items():
            if caller_path == module:
                callee = name if path == "~" else f"{Path(path).stem}.{name}"
                charged[f"{caller} -> {callee}"] += figures[3]
    if not total:
        return [], matches
    return [(label, value / total) for label, value in charged.most_common(8)], matches


# ---------------------------------------------------------------- FTS5

def fts5_query(text: str, operator: str = " OR ") -> str:
    """Each phrase and word double-quoted (only \\w characters survive), joined."""
    phrases = re.findall(r'"([^"]+)"', text)
    rest = re.sub(r'"[^"]*"', " ", text)
    parts = [" ".join(WORD.findall(phrase)) for phrase in phrases] + WORD.findall(rest)
    return operator.join('"' + part.replace('"', '""') + '"' for part in parts if part)


def fts5_build(path: Path, documents: list[SearchDocument]) -> tuple[sqlite3.Connection, float]:
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, "
                       "tokenize='unicode61 remove_diacritics 2')")
    started = time.perf_counter()
    with connection:
        connection.executemany("INSERT INTO t(rowid, title, body) VALUES (?, ?, ?)",
                               ((number, document.title, document.body)
                                for number, document in enumerate(documents)))
    elapsed = time.perf_counter() - started
    # ORDER BY rank lets FTS5 sort inside the table, so snippet() runs for 10 rows only.
    connection.execute("INSERT INTO t(t, rank) VALUES ('rank', 'bm25(3.0, 1.0)')")
    return connection, elapsed


FTS5_SEARCH = ("SELECT rowid, title, snippet(t, 1, '<mark>', '</mark>', ' … ', 24) FROM t "
               "WHERE t MATCH ? ORDER BY rank LIMIT 10")


def fts5_search(connection: sqlite3.Connection, *operators: str):
    """The first of ``operators`` that finds something (the backend: AND, then OR)."""
    def run(text: str) -> None:
        for operator in operators:
            expression = fts5_query(text, operator)
            if expression and connection.execute(FTS5_SEARCH, (expression,)).fetchall():
                return
    return run


# ---------------------------------------------------------------- HTTP

def hello_app():
    """gunicorn entry point: the portal with a hello-world route on the same server."""
    app = create_app()

    @app.get("/__hello")
    def hello():
        return "hello"

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


WRK_SCRIPT = """
local paths = {%s}
local counter = 0
offset = 0
setup = function(thread) thread:set("offset", counter * 37); counter = counter + 1 end
request = function()
  offset = offset + 1
  return wrk.format("GET", paths[(offset %% #paths) + 1])
end
"""


def wrk_run(wrk: str, port: int, paths: list[str], seconds: int, folder: Path,
            headers: tuple[str, ...] = ()) -> dict:
    """Requests/s, p50 and p99 (ms) and errors of ``paths`` in turn, a connection each."""
    script = folder / "paths.lua"
    script.write_text(WRK_SCRIPT % ", ".join(f'"{path}"' for path in paths))
    extra = [argument for header in headers for argument in ("-H", header)]
    output = subprocess.run(  # noqa: S603 (fixed arguments, loopback only)
        [wrk, "-t2", "-c8", f"-d{seconds}s", "--timeout", "60s", "--latency",
         "-H", "Connection: close", *extra, "-s", str(script),
         f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
               "requests": int(re.search(r"(\d+) requests in", output).group(1)),
               "errors": 0}
    for label in ("50", "99"):
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", output)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        figures[f"p{label}"] = float(match.group(1)) * scale
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?(\d+)"):
        match = re.search(pattern, output)
        figures["errors"] += int(match.group(1)) if match else 0
    return figures


def python_run(port: int, paths: list[str], total: int) -> dict:
    """Fallback without wrk: 8 clients, a connection per request, ``total`` in all."""
    counter = itertools.count()
    lock = threading.Lock()
    timings: list[float] = []
    errors = [0]

    def client() -> None:
        while (number := next(counter)) < total:
            started = time.perf_counter()
            status, _body = fetch(port, paths[number % len(paths)])
            with lock:
                timings.append((time.perf_counter() - started) * 1000)
                errors[0] += status != 200

    threads = [threading.Thread(target=client) for _ in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"rps": len(timings) / elapsed, "requests": len(timings), "errors": errors[0],
            "p50": percentile(timings, .5), "p99": percentile(timings, .99)}


def serve(instance: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """gunicorn (2 workers x 4 threads) serving the portal from ``instance``."""
    binaries = Path(sys.executable).parent
    port = free_port()
    log = (instance / "gunicorn.log").open("a")
    server = subprocess.Popen(  # noqa: S603 (fixed arguments, loopback only)
        [str(binaries / "gunicorn"), "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--no-control-socket",
         "--chdir", str(ROOT), "benchmarks.search_benchmark:hello_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            if fetch(port, "/__hello")[0] == 200:
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError("gunicorn did not start: "
                               + (instance / "gunicorn.log").read_text()[-2000:])
        time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def load_test(port: int, instance: Path, label: str, paths: list[str], seconds: int) -> dict:
    """requests/s of ``paths`` in turn, after a warm-up; prints a row."""
    wrk = shutil.which("wrk")
    if wrk:
        wrk_run(wrk, port, paths, seconds // 3 + 1, instance)
        row = wrk_run(wrk, port, paths, seconds, instance)
    else:
        python_run(port, paths, 20)
        row = python_run(port, paths, max(200, 20 * seconds))
    print(f"  {label:<40} {row['rps']:8.1f} req/s  p50 {row['p50']:7.1f} ms  "
          f"p99 {row['p99']:7.1f} ms  requests {row['requests']:6,}  errors {row['errors']}")
    return row


def http_benchmark(instance: Path, kb_queries: list[str], seconds: int) -> None:
    binaries = Path(sys.executable).parent
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance),
           "PORTAL_SECRET_KEY": "benchmark", "PORTAL_RATELIMIT_ENABLED": "false"}
    subprocess.run([str(binaries / "flask"), "--app", "wsgi", "db", "upgrade"],  # noqa: S603
                   cwd=ROOT, env=env, check=True, capture_output=True)
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "benchmark"})
    with app.app_context():
        from portal.extensions import db
        from portal.models import Department

        for slug, (name, _tags) in DEPARTMENTS.items():
            db.session.add(Department(slug=slug, names={"es": name}))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    kb_paths = [f"/kb?q={quote(text)}" for text in kb_queries]
    server, port = serve(instance, env)
    try:
        status, page = fetch(port, kb_paths[0])
        hits = page.count('<h3><a href="/kb/')
        print(f"\nHTTP: gunicorn -w 2 --threads 4 on 127.0.0.1:{port}, pid {server.pid}; "
              f"GET {kb_paths[0]} -> {status}, {hits} hits from the index, "
              f"fallback notice: {'simpler mode' in page}, {len(page):,} bytes")
        if shutil.which("wrk"):
            print(f"load: wrk -t2 -c8 --latency -H 'Connection: close', {seconds} s per "
                  f"endpoint ({3 * seconds} s for /kb) after a {seconds // 3 + 1} s warm-up; "
                  "wrk shares the 2 cores with the server")
        else:
            print("load: wrk not found; Python client, 8 threads, a connection per request")
        hello = load_test(port, instance, "hello (/__hello)", ["/__hello"], seconds)["rps"]
        load_test(port, instance, "/healthz", ["/healthz"], seconds)
        cached = load_test(port, instance, f"/kb?q= ({len(kb_paths)} queries in turn)",
                           kb_paths, 3 * seconds)["rps"]
    finally:
        stop(server)
    # The same pages with no results cache: every request runs its search.
    server, port = serve(instance, {**env, "PORTAL_SEARCH_RESULTS_CACHE": "0"})
    try:
        uncached = load_test(port, instance, "/kb?q=, results cache off", kb_paths,
                             3 * seconds)["rps"]
    finally:
        stop(server)
    for label, rps in (("results cache on (default)", cached),
                       ("results cache off", uncached)):
        print(f"  ratio /kb?q= / hello, {label}: {rps / hello:.1%}  (target >= 20 %: "
              f"{'holds' if rps / hello >= 0.20 else 'MISSED'})")


# ---------------------------------------------------------------- main

def postgres_pass(server_url: str, documents: list[SearchDocument], warmup: list[str],
                  queries: list[str], folder: Path) -> tuple[float, list[float], int]:
    """(seconds to index, milliseconds per query, bytes on disk) of the PostgreSQL backend."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from benchmarks.scratch import scratch_database
    from portal.extensions import db

    with scratch_database(server_url) as url:
        app = create_app({"TESTING": True, "SECRET_KEY": "benchmark", "DATABASE_URL": url,
                          "INSTANCE_PATH": str(folder / "pg-instance"),
                          "SEARCH_BACKEND": "postgresql"})
        with app.app_context():
            upgrade()
            backend = app.extensions["portal_search"]
            started = time.perf_counter()
            backend.rebuild(documents)
            db.session.commit()
            index_s = time.perf_counter() - started
            with db.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE search_documents"))
                connection.execute(text("VACUUM ANALYZE search_vocabulary"))
            size = db.session.scalar(text(
                "SELECT pg_total_relation_size('search_documents') "
                "+ pg_total_relation_size('search_vocabulary')"))

            def search(query_text: str) -> None:
                backend.search(SearchQuery(text=query_text, locale="es", per_page=10))
                db.session.rollback()  # each query in its own transaction, as a request

            timed(search, warmup)
            timings = timed(search, queries)
            db.session.remove()
            db.engine.dispose()
    return index_s, timings, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--tail", type=int, default=TAIL_LEMMAS,
                        help="generated lemmas in the vocabulary's long tail (0: only the "
                        "~300 municipal lemmas, as before 2026-11-30)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--budget", type=float, default=150,
                        help="seconds for the Whoosh backend.search pass; the rest of the "
                        "queries are skipped once spent (0: no limit)")
    parser.add_argument("--breakdown", type=int, default=100,
                        help="queries profiled to attribute Whoosh's time, within a "
                        "quarter of the budget (0 to skip)")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True,
                        help="measure requests/s under gunicorn (default on)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server for the PostgreSQL backend's pass ('' to skip)")
    options = parser.parse_args()
    # On SIGTERM, unwind normally: stop gunicorn and delete the temporary folder.
    signal.signal(signal.SIGTERM, lambda _number, _frame: sys.exit(143))

    print(f"{os.cpu_count()} CPUs, load average {load()} (other processes skew the figures)")
    source = Path(whoosh_backend.__file__)
    print(f"backend: {source.relative_to(ROOT)} sha256 "
          f"{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}, modified "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(source.stat().st_mtime))}")
    rng = random.Random(42)
    started = time.perf_counter()
    corpus = Corpus(rng, options.tail)
    documents = [corpus.article(number) for number in range(1, options.articles + 1)]
    labelled = corpus.queries(documents, WARMUP + options.queries)
    warmup = [text for _kind, text in labelled[:WARMUP]]
    measured = [text for _kind, text in labelled[WARMUP:]]
    kinds = [kind for kind, _text in labelled[WARMUP:]]
    words = sum(len(document.body.split()) for document in documents)
    print(f"{len(documents):,} articles ({sum(d.locale == 'en' for d in documents):,} en), "
          f"{words:,} body words, vocabulary {len(corpus.words):,} content words "
          f"(top 100 = {sum(corpus.weights[:100]) / sum(corpus.weights):.0%} of content "
          f"tokens), generated in {time.perf_counter() - started:.1f} s")
    sample = documents[:2000]
    frequency = Counter(word for document in sample
                        for word in set(WORD.findall(f"{document.title} {document.body}".lower())))
    content = [word for word in corpus.words if word not in corpus.stop]
    print("share of articles containing a word (first 2,000 articles), median by frequency "
          "rank: " + ", ".join(
              f"{label} {percentile([frequency[w] / len(sample) for w in band], .5):.1%}"
              for label, band in (("1-10", content[:10]), ("11-100", content[10:100]),
                                  ("101-1000", content[100:1000]),
                                  ("1001+", content[1000:]))))
    counts = Counter(kinds)
    print(f"{len(measured)} queries after {WARMUP} warm-up ones: {counts['words']} of 1-3 "
          f"words, {counts['typo']} with a one-letter typo, {counts['phrase']} quoted "
          f"phrases; e.g. {measured[:5]}")

    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        instance = Path(folder)
        # No results cache here: every query below runs its search (see --http for the
        # page with the cache).
        backend = WhooshBackend(str(instance / "search"), results_cache=0)
        started = time.perf_counter()
        backend.rebuild(documents)
        whoosh_index_s = time.perf_counter() - started
        print(f"\nWhoosh: rebuild {whoosh_index_s:.1f} s, "
              f"{folder_size(instance / 'search') / 2**20:.0f} MiB")

        def full(text: str) -> None:
            backend.search(SearchQuery(text=text, locale="es", per_page=10))

        timed(full, warmup)
        whoosh = timed(full, measured, options.budget)
        answered = len(whoosh)
        raw = whoosh_raw(backend)
        timed(raw, warmup)
        whoosh_raw_ms = timed(raw, measured[:answered])
        shares, matches = whoosh_profile(backend, measured[:min(answered, options.breakdown)],
                                         options.budget / 4)
        backend.close()
        if answered < len(measured):
            print(f"Whoosh: time budget of {options.budget:.0f} s spent after {answered} of "
                  f"{len(measured)} queries; every figure and ratio below uses those "
                  f"{answered} (--budget 0 for all)")
        kinds = kinds[:answered]
        counts = Counter(kinds)

        fts5, fts5_index_s = fts5_build(instance / "fts5.db", documents)
        print(f"FTS5: insert {fts5_index_s:.1f} s, "
              f"{folder_size(instance / 'fts5.db') / 2**20:.0f} MiB (SQLite "
              f"{sqlite3.sqlite_version})")
        fts5_base, fts5_or = fts5_search(fts5, " AND ", " OR "), fts5_search(fts5, " OR ")
        timed(fts5_base, warmup)
        fts5_ms = timed(fts5_base, measured[:answered])
        timed(fts5_or, warmup)
        fts5_or_ms = timed(fts5_or, measured[:answered])
        fts5.close()

        count = len(documents)
        rows = [("Whoosh backend.search", count / whoosh_index_s, whoosh),
                ("Whoosh raw (top 10 only)", None, whoosh_raw_ms)]
        if options.postgres:
            pg_index_s, pg_ms, pg_size = postgres_pass(options.postgres, documents, warmup,
                                                       measured[:answered], instance)
            print(f"PostgreSQL: rebuild {pg_index_s:.1f} s, {pg_size / 2**20:.0f} MiB "
                  "(search_documents and search_vocabulary with their indexes)")
            rows.append(("PostgreSQL backend.search", count / pg_index_s, pg_ms))
        rows += [("FTS5 AND, else OR (base)", count / fts5_index_s, fts5_ms),
                 ("FTS5 OR (for reference)", None, fts5_or_ms)]
        print(f"\n{'':26} {'index docs/s':>12} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
              f"   p50 by query kind: words / typo / phrase")
        for label, rate, timings in rows:
            p50, p95, p99 = summary(timings)
            rate_text = f"{rate:12,.0f}" if rate else f"{'':12}"
            by_kind = " / ".join(
                f"{percentile(of_kind(timings, kinds, kind), .5):.2f}" if counts[kind] else "-"
                for kind in ("words", "typo", "phrase"))
            print(f"{label:26} {rate_text} {p50:8.2f} {p95:8.2f} {p99:8.2f}   {by_kind}")
        w50, w95, w99 = summary(whoosh)
        f50, f95, f99 = summary(fts5_ms)
        index_ratio = (count / whoosh_index_s) / (count / fts5_index_s)
        print(f"{'ratio Whoosh / FTS5':26} {index_ratio:11.3f}x {w50 / f50:7.1f}x "
              f"{w95 / f95:7.1f}x {w99 / f99:7.1f}x")
        if options.postgres:
            p50, p95, p99 = summary(pg_ms)
            print(f"{'ratio PostgreSQL / FTS5':26} {fts5_index_s / pg_index_s:11.3f}x "
                  f"{p50 / f50:7.1f}x {p95 / f95:7.1f}x {p99 / f99:7.1f}x")
        if shares:
            matches.sort()
            print(f"Whoosh time by call, profiling {len(matches)} backend.search calls "
                  f"(matches per query: median {percentile(matches, .5):,}, max "
                  f"{matches[-1]:,}):\n    " + "\n    ".join(
                      f"{share:6.1%}  {label}" for label, share in shares))
        print("\nTargets:")
        for label, holds in (
                (f"query p50 <= 3x FTS5 ({w50:.2f} vs {3 * f50:.2f} ms)", w50 <= 3 * f50),
                (f"Whoosh p95 <= FTS5 p95 ({w95:.2f} vs {f95:.2f} ms)", w95 <= f95),
                (f"bulk indexing >= 1,000 articles/s ({count / whoosh_index_s:,.0f}/s)",
                 count / whoosh_index_s >= 1000)):
            print(f"  {'holds ' if holds else 'MISSED'}  {label}")

        if options.http:
            print(f"\nload average before HTTP: {load()}")
            http_benchmark(instance, measured, options.duration)


if __name__ == "__main__":
    main()
