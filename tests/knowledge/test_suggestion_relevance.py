"""Suggestions while a citizen types: only plausible answers (issue 11, item 14).

A small, hand-written set of what citizens type into the intake form, in their words,
checked against the demo knowledge base (portal/demo_kb/). Each text names the
articles (file stems) that would answer it, or none when no demo article does. The
test measures what the form would show and prints the figures:

- precision: the share of shown suggestions that answer the text;
- recall: the share of answerable texts whose article is shown;
- silence: the share of texts without an answer that get no suggestion.
"""

from __future__ import annotations

import pytest

from portal.knowledge import service as knowledge
from portal.knowledge.service import suggestions_for
from portal.models import Article, Role

# (what the citizen typed: subject and body, the articles that answer it)
ANSWERABLE = [
    ("Farola fundida. La farola de delante de mi portal lleva una semana apagada y por la "
     "noche la calle está a oscuras", {"aceras-baches-avisos"}),
    ("Bache en la calzada. Hay un bache enorme delante del número 12 y los coches lo "
     "esquivan invadiendo el otro carril", {"aceras-baches-avisos"}),
    ("Quiero pagar una multa de aparcamiento que me pusieron ayer", {"multa-pagar"}),
    ("Me ha llegado el recibo del IBI y no sé dónde pagarlo", {"ibi-pago"}),
    ("Necesito fraccionar el IBI en varios plazos porque este año no llego",
     {"ibi-fraccionamiento", "aplazamiento-deudas"}),
    ("Tengo que deshacerme de un sofá y un colchón viejos, ¿vienen a recogerlos?",
     {"recogida-muebles-enseres"}),
    ("Acabo de mudarme al municipio y quiero empadronarme",
     {"empadronamiento-alta", "empadronamiento-cambio-domicilio"}),
    ("Me piden un certificado de empadronamiento para la matrícula del colegio",
     {"certificado-empadronamiento"}),
    ("Mi madre tiene 85 años y vive sola, queremos pedir la teleasistencia",
     {"teleasistencia"}),
    ("Los vecinos del tercero ponen música muy alta todas las noches, no se puede dormir",
     {"ruido-denuncias"}),
    ("Se ha llevado la grúa mi coche, ¿dónde está el depósito?", {"grua-deposito"}),
    ("Quiero la tarjeta de residente para aparcar en la zona ORA de mi barrio",
     {"tarjeta-residente-ora"}),
    ("¿Puede entrar mi coche diésel de 2005 en la zona de bajas emisiones?",
     {"zona-bajas-emisiones"}),
    ("Quiero recurrir una sanción de tráfico que considero injusta",
     {"sancion-trafico-recurrir", "identificar-conductor"}),
    ("Voy a reformar el baño, ¿necesito licencia de obra?",
     {"licencia-obra-menor-mayor", "declaracion-responsable"}),
    ("¿Qué horario tiene el punto limpio y qué puedo llevar?", {"punto-limpio"}),
    ("Quiero pedir un vado permanente para la entrada de mi garaje", {"vado-permanente"}),
    ("Hay ratas en el patio de la comunidad, necesitamos que vengan a desratizar",
     {"plagas-control"}),
    ("¿En qué contenedor se echan los envases de plástico?",
     {"reciclaje-contenedores-colores"}),
    ("Me gustaría tener un huerto urbano, ¿cómo me apunto?", {"huertos-urbanos"}),
    ("¿Por dónde puedo circular con mi patinete eléctrico?", {"patinetes-electricos"}),
    ("Quiero domiciliar los recibos municipales en mi cuenta del banco",
     {"domiciliacion-recibos"}),
]

NO_ANSWER = [
    "El autobús de la línea 3 pasa siempre con veinte minutos de retraso",
    "Quiero felicitar a la persona que me atendió ayer en la biblioteca",
    "El agua de la piscina municipal está demasiado fría",
    "¿Cuándo son las fiestas del barrio este año?",
    "Quiero presentarme a las oposiciones de policía local",
    "La web del ayuntamiento no me deja descargar el formulario",
    "Quiero reservar una pista de pádel en el polideportivo",
    "El mercado municipal cierra demasiado pronto los sábados",
    "Mi hijo quiere hacer prácticas en el ayuntamiento este verano",
    "Propongo poner más bancos para sentarse en la plaza mayor",
]

DEPARTMENTS = ("movilidad", "medio-ambiente", "hacienda", "servicios-sociales", "urbanismo")


@pytest.fixture
def demo_knowledge_base(app, db, make_user, make_department):
    from portal.demo import DEMO_KB

    for slug in DEPARTMENTS:
        make_department(slug=slug)
    imported, _skipped, problems = knowledge.import_faq(make_user(Role.ADMIN), DEMO_KB)
    db.session.commit()
    assert imported >= 60 and problems == []
    knowledge.reindex()
    return _stems(db)


def _stems(db) -> dict[int, str]:
    """Article id -> the demo file it came from (its stem, e.g. "multa-pagar")."""
    from portal.demo import DEMO_KB

    files = {}
    for path in DEMO_KB.glob("*.md"):
        front = path.read_text(encoding="utf-8").split("---")[1]
        title = next(line.split(":", 1)[1].strip() for line in front.splitlines()
                     if line.startswith("title:"))
        files[title] = path.name.split(".")[0]
    return {article.id: files[article.title] for article in db.session.scalars(
        db.select(Article))}


def _shown(app, text: str) -> list[int]:
    with app.test_request_context("/?lang=es"):
        results = suggestions_for(text)
    return [int(hit.doc_id.split(":")[1]) for hit in results.hits
            if hit.doc_id.startswith("article:")] if results else []


def test_suggestions_are_plausible_answers(app, demo_knowledge_base):
    stems = demo_knowledge_base
    shown = right = answered = silent = 0
    misses, wrong = [], []
    for text, answers in ANSWERABLE:
        suggested = [stems[article_id] for article_id in _shown(app, text)]
        shown += len(suggested)
        right += sum(stem in answers for stem in suggested)
        if answers & set(suggested):
            answered += 1
        else:
            misses.append((text[:50], suggested))
        wrong += [(text[:50], stem) for stem in suggested if stem not in answers]
    for text in NO_ANSWER:
        suggested = [stems[article_id] for article_id in _shown(app, text)]
        shown += len(suggested)
        silent += not suggested
        wrong += [(text[:50], stem) for stem in suggested]
    precision = right / shown if shown else 1.0
    recall = answered / len(ANSWERABLE)
    silence = silent / len(NO_ANSWER)
    print(f"\nsuggestions shown: {shown}, right: {right} (precision {precision:.0%}); "
          f"answerable texts answered: {answered}/{len(ANSWERABLE)} (recall {recall:.0%}); "
          f"texts without an answer left silent: {silent}/{len(NO_ANSWER)} "
          f"({silence:.0%})")
    for text, stem in wrong:
        print(f"  wrong: {text!r} -> {stem}")
    for text, suggested in misses:
        print(f"  missed: {text!r} -> {suggested}")
    # Measured on this set when the floor was tuned (on the same texts, so an optimistic
    # figure): precision 95 %, recall 86 %, silence 100 %. The bars leave a little room.
    assert precision >= 0.85
    assert recall >= 0.75
    assert silence >= 0.90

