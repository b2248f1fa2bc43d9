"""Personal data is removed from case text before it becomes a knowledge-base article."""

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from portal.knowledge.redaction import (
    PLACEHOLDERS,
    Redacted,
    Replacement,
    highlight_html,
    redact,
    valid_dni,
    valid_iban,
    valid_nie,
)

MESSAGE = ("Soy María García López, con DNI 12345678Z y teléfono 600 123 456. "
           "Escríbanme a maria.garcia@example.org. Vivo en Calle Mayor 12, 3º B. "
           "Mi cuenta es ES91 2100 0418 4502 0005 1332. Mi vecino X1234567L también.")
KNOWN = {"names": ["María García López"], "emails": ["maria.garcia@example.org"],
         "phones": ["600123456"], "addresses": ["Calle Mayor 12, 3º B"]}
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def restore(redacted: Redacted) -> str:
    """The input text, rebuilt by putting each original back where its placeholder is."""
    text = redacted.text
    for replacement in sorted(redacted.replacements, key=lambda item: -item.start):
        text = text[:replacement.start] + replacement.original + text[replacement.end:]
    return text


def assert_consistent(source: str, redacted: Redacted, placeholders=PLACEHOLDERS) -> None:
    """Offsets point at the placeholders, in order, and nothing else was changed."""
    previous_end = 0
    for replacement in redacted.replacements:
        assert replacement.start >= previous_end
        assert redacted.text[replacement.start:replacement.end] == placeholders[replacement.kind]
        previous_end = replacement.end
    assert restore(redacted) == source


# ---------------------------------------------------------------- validators

@pytest.mark.parametrize(("value", "valid"), [
    ("12345678Z", True),
    ("12345678z", True),
    ("12345678-Z", True),
    ("12345678 Z", True),
    ("12.345.678-Z", True),
    ("87654321X", True),
    ("00000000T", True),
    ("12345678A", False),   # wrong check letter
    ("1234567Z", False),    # 7 digits
    ("123456789Z", False),  # 9 digits
    ("X1234567L", False),   # a NIE, not a DNI
    ("", False),
])
def test_valid_dni(value, valid):
    assert valid_dni(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("X1234567L", True),
    ("x1234567l", True),
    ("X-1234567-L", True),
    ("Y1234567X", True),
    ("Z1234567R", True),
    ("X1234567A", False),   # wrong check letter
    ("W1234567L", False),   # not an NIE prefix
    ("X123456L", False),    # 6 digits
    ("12345678Z", False),
])
def test_valid_nie(value, valid):
    assert valid_nie(value) is valid


@pytest.mark.parametrize(("value", "valid"), [
    ("ES9121000418450200051332", True),
    ("ES91 2100 0418 4502 0005 1332", True),
    ("es91 2100 0418 4502 0005 1332", True),
    ("GB29 NWBK 6016 1331 9268 19", True),
    ("DE89 3704 0044 0532 0130 00", True),
    ("PT50 0002 0123 1234 5678 9015 4", True),
    ("ES92 2100 0418 4502 0005 1332", False),  # wrong check digits
    ("ES91 2100 0418 4502 0005 1333", False),  # a digit changed
    ("ES91 2100 0418", False),                  # too short
    ("ES91" + "1" * 31, False),                 # too long
    ("2100 0418 4502 0005 1332", False),        # no country
    ("", False),
])
def test_valid_iban(value, valid):
    assert valid_iban(value) is valid


# ---------------------------------------------------------------- the realistic message

def test_realistic_message_with_the_citizens_data_is_fully_redacted():
    redacted = redact(MESSAGE, **KNOWN)

    assert redacted.text == (
        "Soy [nombre], con DNI [DNI] y teléfono [teléfono]. "
        "Escríbanme a [correo electrónico]. Vivo en [dirección]. "
        "Mi cuenta es [IBAN]. Mi vecino [NIE] también.")
    assert [(item.kind, item.original) for item in redacted.replacements] == [
        ("name", "María García López"),
        ("dni", "12345678Z"),
        ("phone", "600 123 456"),
        ("email", "maria.garcia@example.org"),
        ("address", "Calle Mayor 12, 3º B"),
        ("iban", "ES91 2100 0418 4502 0005 1332"),
        ("nie", "X1234567L"),
    ]
    for original in ("María", "García", "López", "12345678Z", "600 123 456", "maria.garcia",
                     "Calle Mayor", "ES91", "1332", "X1234567L"):
        assert original not in redacted.text
    assert_consistent(MESSAGE, redacted)


def test_without_known_values_the_generic_patterns_still_catch_their_kinds():
    redacted = redact(MESSAGE)

    assert {item.kind for item in redacted.replacements} == {"dni", "phone", "email", "iban",
                                                            "nie"}
    assert redacted.text.startswith("Soy María García López, con DNI [DNI]")
    assert "Vivo en Calle Mayor 12, 3º B." in redacted.text
    assert_consistent(MESSAGE, redacted)


def test_the_example_values_are_valid():
    assert valid_dni("12345678Z")
    assert valid_nie("X1234567L")
    assert valid_iban("ES9121000418450200051332")


# ---------------------------------------------------------------- identity documents

@pytest.mark.parametrize("dni", ["12345678Z", "12345678z", "12345678-Z", "12345678 Z",
                                 "12.345.678-Z"])
def test_valid_dni_is_redacted_in_its_usual_spellings(dni):
    assert redact(f"Mi DNI es {dni}, gracias.").text == "Mi DNI es [DNI], gracias."


def test_dni_glued_to_a_label_is_redacted():
    assert redact("DNI:12345678Z y DNI12345678Z").text == "DNI:[DNI] y DNI[DNI]"


@pytest.mark.parametrize("text", [
    "Referencia 12345678A del expediente.",  # wrong check letter: a reference number
    "Factura 1234567Z pagada.",              # 7 digits
    "Código 12345678Zeta",                   # the letter starts a word
])
def test_invalid_or_dni_looking_strings_are_left_alone(text):
    redacted = redact(text)
    assert redacted.text == text
    assert redacted.replacements == ()


def test_nie_is_redacted_only_with_a_valid_letter():
    redacted = redact("NIE X1234567L, y-1234567-x; falso X1234567A.")
    assert redacted.text == "NIE [NIE], [NIE]; falso X1234567A."
    assert [item.kind for item in redacted.replacements] == ["nie", "nie"]


# ---------------------------------------------------------------- IBAN

@pytest.mark.parametrize("iban", [
    "ES91 2100 0418 4502 0005 1332",
    "ES9121000418450200051332",
    "es91 2100 0418 4502 0005 1332",
    "GB29 NWBK 6016 1331 9268 19",
    "DE89 3704 0044 0532 0130 00",
])
def test_valid_iban_is_redacted_whole(iban):
    redacted = redact(f"Cuenta: {iban}. Gracias")
    assert redacted.text == "Cuenta: [IBAN]. Gracias"
    assert [item.original for item in redacted.replacements] == [iban]


def test_words_after_an_iban_are_kept():
    redacted = redact("ES91 2100 0418 4502 0005 1332 en la oficina")
    assert redacted.text == "[IBAN] en la oficina"


@pytest.mark.parametrize("text", [
    "Cuenta ES92 2100 0418 4502 0005 1332.",   # wrong check digits
    "Cuenta ES9121000418450200051333.",
    "CCC 2100 0418 4502 0005 1332.",           # 20-digit account number: no phone inside
    "CCC 21000418450200051332.",
])
def test_invalid_iban_and_bare_account_numbers_are_left_alone(text):
    redacted = redact(text)
    assert redacted.text == text
    assert redacted.replacements == ()


def test_iban_wins_over_the_phone_like_digits_inside_it():
    # The first nine digits after "ES91" could be read as "912 100 041"...
    redacted = redact("IBAN: ES9121000418450200051332")
    assert redacted.text == "IBAN: [IBAN]"
    assert [item.kind for item in redacted.replacements] == ["iban"]


def test_phone_right_after_an_iban_is_found_too():
    redacted = redact("ES91 2100 0418 4502 0005 1332 600 123 456")
    assert redacted.text == "[IBAN] [teléfono]"


# ---------------------------------------------------------------- phones

@pytest.mark.parametrize("phone", [
    "600 123 456",
    "600123456",
    "600-12-34-56",
    "912 34 56 78",
    "91.234.56.78",
    "+34 912 345 678",
    "+34.600.12.34.56",
    "+34600123456",
    "0034 600 123 456",
    "(+34) 600 12 34 56",
    "700 123 456",
    "800\u00a0123\u00a0456",  # non-breaking spaces, as pasted from a web page
])
def test_spanish_phone_numbers_are_redacted_with_their_prefix(phone):
    redacted = redact(f"Llámenme al {phone} por la tarde.")
    assert redacted.text == "Llámenme al [teléfono] por la tarde."
    assert redacted.replacements[0].original == phone


@pytest.mark.parametrize("text", [
    "Expediente 500 123 456.",              # does not start with 6-9
    "Código 60012345.",                     # 8 digits
    "Código 6001234567.",                   # 10 digits
    "Pedido 1 600 123 456.",                # tail of a longer number
    "Llame al +1 600 123 456.",             # a foreign number
    "Presupuesto: 900.000.000,00 euros.",   # an amount
    "Presupuesto: 900.000.000 €.",
])
def test_numbers_that_are_not_spanish_phones_are_left_alone(text):
    assert redact(text).text == text


def test_known_phone_matches_any_grouping_and_prefix():
    text = "Tel. 600.123.456, móvil +34 600 12 34 56 o 0034600123456; fijo 600 123 450."
    redacted = redact(text, phones=["+34 600 123 456"])
    assert redacted.text == "Tel. [teléfono], móvil [teléfono] o [teléfono]; fijo [teléfono]."
    assert "600 123 450" in [item.original for item in redacted.replacements]  # generic


def test_known_foreign_phone_is_redacted():
    redacted = redact("Desde Londres: +44 20 7946 0958.", phones=["+44 20 7946 0958"])
    assert redacted.text == "Desde Londres: [teléfono]."


# ---------------------------------------------------------------- e-mail

@pytest.mark.parametrize("email", ["maria.garcia@example.org", "j_perez+ayto@correo.gob.es",
                                   "Info@Example.COM", "josé@ejemplo.es"])
def test_any_email_address_is_redacted(email):
    redacted = redact(f"Escribid a {email}. Gracias")
    assert redacted.text == "Escribid a [correo electrónico]. Gracias"
    assert redacted.replacements[0].original == email


def test_known_email_is_matched_case_insensitively():
    redacted = redact("MARIA.GARCIA@EXAMPLE.ORG", emails=["maria.garcia@example.org"])
    assert redacted.text == "[correo electrónico]"


def test_name_inside_an_email_gives_one_email_placeholder():
    redacted = redact("maria.garcia@example.org", names=["María García"])
    assert redacted.text == "[correo electrónico]"
    assert [item.kind for item in redacted.replacements] == ["email"]


# ---------------------------------------------------------------- names

def test_name_is_matched_ignoring_accents_and_case():
    redacted = redact("MARIA GARCIA vino; maría lópez también; Sra. García y LÓPEZ.",
                      names=["María García López"])
    assert redacted.text == "[nombre] vino; [nombre] también; Sra. [nombre] y [nombre]."


def test_name_in_decomposed_unicode_leaves_no_stray_accent():
    redacted = redact("Firmado: Mari\u0301a Garci\u0301a.", names=["María García"])
    assert redacted.text == "Firmado: [nombre]."
    assert redacted.replacements[0].original == "Mari\u0301a Garci\u0301a"


def test_name_words_are_not_matched_inside_other_words():
    text = "Los garcíanos de Lópezville y las Marías del barrio."
    redacted = redact(text, names=["María García López"])
    assert redacted.text == text


def test_short_name_words_are_only_removed_as_part_of_the_full_name():
    redacted = redact("Ana de la Fuente vive en la calle de la Fuente.",
                      names=["Ana de la Fuente"])
    assert redacted.text == "[nombre] vive en la calle de la [nombre]."


def test_adjacent_name_words_become_one_placeholder():
    redacted = redact("Atentamente, García  López", names=["María García López"])
    assert redacted.text == "Atentamente, [nombre]"
    assert [item.original for item in redacted.replacements] == ["García  López"]


def test_name_next_to_a_number_is_still_found():
    assert redact("Ana600123456", names=["Ana Pérez"]).text == "[nombre][teléfono]"


# ---------------------------------------------------------------- addresses

def test_known_address_is_matched_whole_and_by_its_parts():
    redacted = redact("Vivo en calle mayor 12 desde 2019; antes en CALLE MAYOR 12, 3o B.",
                      addresses=["Calle Mayor 12, 3º B"])
    assert redacted.text == "Vivo en [dirección] desde 2019; antes en [dirección]."


def test_short_address_parts_and_other_numbers_are_kept():
    redacted = redact("En el 3º B de Calle Mayor 120 y en Madrid.",
                      addresses=["Calle Mayor 12, 3º B\n28013 Madrid"])
    assert redacted.text == "En el 3º B de Calle Mayor 120 y en Madrid."


def test_each_line_of_a_multi_line_address_is_matched():
    redacted = redact("Dirección: Calle Mayor 12\n28013 Madrid",
                      addresses=["Calle Mayor 12\n28013 Madrid"])
    assert redacted.text == "Dirección: [dirección]\n[dirección]"


# ---------------------------------------------------------------- placeholders and offsets

def test_replacement_offsets_point_at_the_placeholders():
    redacted = redact(MESSAGE, **KNOWN)
    assert redacted.replacements
    for replacement in redacted.replacements:
        assert redacted.text[replacement.start:replacement.end] == PLACEHOLDERS[replacement.kind]
    assert_consistent(MESSAGE, redacted)


def test_custom_placeholders():
    labels = {"name": "[name]", "dni": "▇▇▇"}
    redacted = redact("María, 12345678Z, 600123456", names=["María"], placeholders=labels)
    assert redacted.text == "[name], ▇▇▇, [teléfono]"
    assert_consistent("María, 12345678Z, 600123456", redacted, {**PLACEHOLDERS, **labels})


def test_unknown_placeholder_kind_is_refused():
    with pytest.raises(ValueError, match="passport"):
        redact("x", placeholders={"passport": "[pasaporte]"})


def test_a_single_string_instead_of_a_list_is_refused():
    with pytest.raises(TypeError, match="names"):
        redact("María", names="María García")


def test_empty_and_missing_known_values_are_ignored():
    text = "Nada que quitar aquí."
    assert redact(text, names=["", "  ", None], phones=["12"], emails=[""]).text == text


def test_text_without_personal_data_is_returned_unchanged():
    text = "Horario: lunes a viernes de 9:00 a 14:00.\nTeléfono de atención: 010."
    assert redact(text) == Redacted(text, ())


def test_placeholders_are_never_redacted_again():
    # "Iban" is a Basque first name, and also the word inside the "[IBAN]" placeholder.
    known = {"names": ["Iban Etxeberria"]}
    first = redact("Iban Etxeberria, cuenta ES91 2100 0418 4502 0005 1332", **known)
    assert first.text == "[nombre], cuenta [IBAN]"
    assert redact(first.text, **known) == Redacted(first.text, ())


def test_redacting_twice_changes_nothing():
    once = redact(MESSAGE, **KNOWN)
    assert redact(once.text).text == once.text
    assert redact(once.text, **KNOWN).text == once.text


def test_replacement_is_a_frozen_value():
    replacement = Replacement("dni", "12345678Z", 0, 5)
    with pytest.raises(AttributeError):
        replacement.start = 3  # type: ignore[misc]


# ---------------------------------------------------------------- review HTML

def test_highlight_html_escapes_the_text_and_marks_the_placeholders():
    redacted = redact('<script>alert("x")</script> DNI 12345678Z\nsegunda línea & más')
    html = highlight_html(redacted)

    assert isinstance(html, Markup)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert '<mark class="redacted" title="dni">[DNI]</mark>' in html
    assert "\nsegunda línea &amp; más" in html


def test_highlight_html_escapes_custom_placeholders_too():
    redacted = redact("12345678Z", placeholders={"dni": "<b>DNI</b>"})
    assert str(highlight_html(redacted)) == (
        '<mark class="redacted" title="dni">&lt;b&gt;DNI&lt;/b&gt;</mark>')


def test_highlight_html_marks_every_replacement():
    html = highlight_html(redact(MESSAGE, **KNOWN))
    assert html.count("<mark ") == 7
    assert '<mark class="redacted" title="email">[correo electrónico]</mark>' in html


# ---------------------------------------------------------------- properties

# Filler text never contains digits or "@", so the inserted value cannot also appear in
# it by chance; it does contain accents, markup and line breaks.
filler = st.text(alphabet=string.ascii_letters + "áéíóúñÁÉÍÓÚÑüç .,;:¿?¡!()<>&\"'\n\t-",
                 max_size=60)


@st.composite
def valid_dnis(draw):
    number = draw(st.integers(min_value=0, max_value=99_999_999))
    letter = DNI_LETTERS[number % 23]
    separator = draw(st.sampled_from(["", "-", " "]))
    return f"{number:08d}{separator}{draw(st.sampled_from([letter, letter.lower()]))}"


@st.composite
def spanish_phones(draw):
    digits = draw(st.sampled_from("6789")) + "".join(
        draw(st.lists(st.sampled_from(string.digits), min_size=8, max_size=8)))
    separator = draw(st.sampled_from(["", " ", ".", "-"]))
    groups = [digits[:3], digits[3:6], digits[6:]]
    prefix = draw(st.sampled_from(["", "+34 ", "0034 ", "(+34) ", "+34"]))
    return prefix + separator.join(groups)


emails = st.builds(
    "{}@{}.{}".format,
    st.text(alphabet=string.ascii_lowercase + string.digits + "._", min_size=1,
            max_size=12).filter(lambda local: local[0] not in "._"),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    st.sampled_from(["es", "org", "com", "eus", "cat"]),
)


@settings(max_examples=200, deadline=None)
@given(before=filler, after=filler, value=st.one_of(valid_dnis(), spanish_phones(), emails))
def test_inserted_personal_data_never_survives(before, after, value):
    source = f"{before} {value}. {after}"
    redacted = redact(source)
    assert value not in redacted.text
    assert_consistent(source, redacted)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_arbitrary_text_never_raises_and_only_placeholders_change(text):
    redacted = redact(text, names=["María García"], phones=["600123456"])
    assert_consistent(text, redacted)
    assert redact(redacted.text).text == redacted.text


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.one_of(filler, valid_dnis(), spanish_phones(), emails,
                                st.sampled_from(["ES91 2100 0418 4502 0005 1332",
                                                 "X1234567L", "María", "[DNI]", "[nombre]",
                                                 "12345678A", "+34", "1", "@"])),
                      max_size=8))
def test_redaction_is_idempotent(parts):
    text = "".join(parts)
    once = redact(text, names=["María García"])
    assert redact(once.text).text == once.text
    assert redact(once.text, names=["María García"]) == Redacted(once.text, ())


@settings(max_examples=100, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéíóúñ", min_size=3, max_size=12),
       shout=st.booleans())
def test_known_name_is_found_whatever_its_case(name, shout):
    written = name.upper() if shout else name.capitalize()
    redacted = redact(f"— {written}.", names=[name])
    assert redacted.text == "— [nombre]."
