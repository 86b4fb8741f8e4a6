"""A small message catalogue for the family pages and for the pages every signed-in
person shares (menu, home, notifications, password) as a family member reads them:
English (the keys) and Spanish. Emails have a template per language instead.

The family pages are few and their wording changes with them, so a dictionary next to the
code is simpler to keep right than compiled gettext catalogues. `translate(text, **values)`
looks the English text up, then fills in `%(name)s` values; a missing entry shows the
English (and tests check that every string those templates use has a Spanish entry).
"""

from __future__ import annotations

import re

from flask import has_request_context, request, session
from flask_login import current_user

LANGUAGES = {"en": "English", "es": "Español"}
FAMILY_ROLES = ("guardian", "student")
STAFF_ROLES = ("admin", "legal", "reviewer", "signatory", "staff")

SPANISH = {
    # index
    "Your children": "Sus hijos",
    "Your records": "Sus registros",
    "Choose a name to see which school records may be shared, with whom, and to say yes or no.":
        "Elija un nombre para ver qué registros escolares se pueden compartir, con quién, y "
        "para decir sí o no.",
    "Grade %(grade)s": "Grado %(grade)s",
    "No student is linked to your account yet. Please contact your school.":
        "Todavía no hay ningún estudiante vinculado a su cuenta. Comuníquese con su escuela.",
    # language switch
    "Language": "Idioma",
    "Change language": "Cambiar idioma",
    # student page
    "Back to your children": "Volver a sus hijos",
    "Back to your records": "Volver a sus registros",
    "You can see this page, but you cannot give or take back permission: %(reason)s.":
        "Puede ver esta página, pero no puede dar ni retirar permisos: %(reason)s.",
    "Requests to share records": "Solicitudes para compartir registros",
    "Why:": "Para qué:",
    "What:": "Qué:",
    "Until:": "Hasta:",
    "%(date)s at the latest.": "el %(date)s como máximo.",
    "Read the consent form (%(title)s, version %(version)s)":
        "Lea el formulario de permiso (%(title)s, versión %(version)s)",
    "What the information may be used for": "Para qué se puede usar la información",
    "Which information may be shared": "Qué información se puede compartir",
    "Until (optional, at the latest %(date)s)": "Hasta (opcional, como máximo el %(date)s)",
    "“Yes” shares only what you ticked. “No” refuses what you ticked, or everything if you "
    "ticked nothing.":
        "«Sí» comparte solo lo que marcó. «No» niega lo que marcó, o todo si no marcó nada.",
    "Yes, share what I ticked": "Sí, compartir lo que marqué",
    "No, do not share": "No, no compartir",
    "The consent form for this request is not ready yet.":
        "El formulario de permiso para esta solicitud todavía no está listo.",
    "There are no open requests to share %(name)s's records.":
        "No hay solicitudes abiertas para compartir los registros de %(name)s.",
    "Your answers": "Sus respuestas",
    "Shared with": "Se comparte con",
    "Information": "Información",
    "Used for": "Para qué",
    "State": "Estado",
    "Valid through": "Válido hasta",
    "Action": "Acción",
    "Revoke": "Retirar",
    "Revoke sharing of %(category)s with %(recipient)s":
        "Retirar el permiso de compartir %(category)s con %(recipient)s",
    "You have not answered any request yet.": "Todavía no ha respondido ninguna solicitud.",
    "Who received what": "Quién recibió qué",
    "Each time a partner received %(name)s's records, it is listed here. Most sharing needs "
    "your consent. The law also allows a few exceptions without consent (for example, staff "
    "acting as school officials, or an audit of a program); the district keeps a record of "
    "those too.":
        "Cada vez que una organización recibió registros de %(name)s, aparece aquí. Casi todo "
        "intercambio necesita su permiso. La ley también permite algunas excepciones sin "
        "permiso (por ejemplo, personal que actúa como funcionario escolar, o la auditoría de "
        "un programa); el distrito también lleva un registro de esas.",
    "When": "Cuándo",
    "Who received it": "Quién lo recibió",
    "What": "Qué",
    "What for": "Para qué",
    "Allowed because": "Permitido porque",
    "With your family's consent": "Con el permiso de su familia",
    "Directory information (shared unless you opt out)":
        "Información de directorio (se comparte a menos que usted se oponga)",
    "Without consent, under a legal exception (%(basis)s)":
        "Sin permiso, según una excepción legal (%(basis)s)",
    "No partner has received %(name)s's records yet.":
        "Ninguna organización ha recibido todavía registros de %(name)s.",
    "History": "Historial",
    "By whom": "Quién",
    "The system": "El sistema",
    "Nothing has happened yet.": "Todavía no ha pasado nada.",
    "%(event)s: %(category)s for %(purpose)s, shared with %(recipient)s":
        "%(event)s: %(category)s para %(purpose)s, compartido con %(recipient)s",
    # states and events
    "Requested": "Solicitado", "Granted": "Dado", "Refused": "Negado", "Revoked": "Retirado",
    "Expired": "Terminado", "Superseded": "Reemplazado", "Lapsed": "Caducado",
    # messages from the views and services
    "Thank you. You granted consent for %(recipient)s (%(count)s items).":
        "Gracias. Usted dio su permiso a %(recipient)s (%(count)s elementos).",
    "Thank you. You refused consent for %(recipient)s (%(count)s items).":
        "Gracias. Usted negó su permiso a %(recipient)s (%(count)s elementos).",
    "Thank you. You granted consent for %(recipient)s (1 item).":
        "Gracias. Usted dio su permiso a %(recipient)s (1 elemento).",
    "Thank you. You refused consent for %(recipient)s (1 item).":
        "Gracias. Usted negó su permiso a %(recipient)s (1 elemento).",
    "Sharing of %(category)s with %(recipient)s has stopped.":
        "Se dejó de compartir %(category)s con %(recipient)s.",
    "That agreement is no longer open for consent for this child.":
        "Ese acuerdo ya no está abierto a permisos para este estudiante.",
    "This consent is no longer in force, so there is nothing to revoke.":
        "Este permiso ya no está vigente, así que no hay nada que retirar.",
    "choose at least one": "elija al menos una opción",
    "the consent form was updated after you opened it; read the new version":
        "el formulario de permiso cambió después de que usted lo abrió; lea la nueva versión",
    "you do not hold educational rights for this student":
        "usted no tiene los derechos educativos de este estudiante",
    "this student is 18 and now decides for themself":
        "este estudiante tiene 18 años y ahora decide por sí mismo",
    "a student may act for themself from their 18th birthday":
        "un estudiante puede decidir por sí mismo a partir de los 18 años",
    "the date is in the past": "la fecha ya pasó",
    "Your language was changed.": "Se cambió su idioma.",
    "Choose Yes or No to answer.": "Elija Sí o No para responder.",
    "another decision for this partner was recorded after you opened this page; "
    "nothing was changed: review the page and decide again":
        "se registró otra decisión para esta organización después de que usted abrió esta "
        "página; no se cambió nada: revise la página y decida de nuevo",
    "Ended with the agreement": "Terminó con el acuerdo",
    "Not a valid date value.": "La fecha no es válida.",
    "Not a valid integer value.": "El número no es válido.",
    "%(name)s is 18 or older and now decides about their own school records: their answers, "
    "their history and who received their records are theirs to see.":
        "%(name)s tiene 18 años o más y ahora decide sobre sus propios registros escolares: "
        "sus respuestas, su historial y quién recibió sus registros son suyos.",
    "remove the invisible control characters (such as NUL or text-direction overrides)":
        "quite los caracteres de control invisibles (como NUL o los que cambian la "
        "dirección del texto)",
    "This page is out of date. Reload it and try again.":
        "Esta página no está actualizada. Vuelva a cargarla e inténtelo de nuevo.",
    "Choose among the options shown.": "Elija entre las opciones que se muestran.",
    # reasons the system writes into the ledger
    "the student turned 18 and now holds the rights":
        "el estudiante cumplió 18 años y ahora tiene los derechos",
    "valid through %(date)s": "válido hasta el %(date)s",
    # the sign-in pages (before anyone is signed in)
    "Sign in": "Iniciar sesión",
    "Email": "Correo electrónico",
    "Keep me signed in on this device": "Mantener la sesión iniciada en este dispositivo",
    "Family member?": "¿Es familiar de un estudiante?",
    "Sign in with a link sent by email": "Inicie sesión con un enlace enviado por correo",
    "instead of a password.": "en lugar de una contraseña.",
    "That email and password do not match an active account.":
        "Ese correo y esa contraseña no corresponden a una cuenta activa.",
    "Sign in by email": "Iniciar sesión por correo",
    "Enter the email address your school has for you. We will send you a link that signs "
    "you in once.":
        "Escriba el correo electrónico que la escuela tiene de usted. Le enviaremos un "
        "enlace que inicia su sesión una vez.",
    "Enter your email address.": "Escriba su correo electrónico.",
    "Email me a sign-in link": "Enviarme un enlace para iniciar sesión",
    "Sign in with a password instead": "Iniciar sesión con una contraseña",
    "Check your email": "Revise su correo",
    "If that address belongs to a family account here, a sign-in link is on its way. It "
    "works once, for a short time.":
        "Si esa dirección pertenece a una cuenta de familia, le enviamos un enlace para "
        "iniciar sesión. Funciona una vez y por poco tiempo.",
    "Ask for another link": "Pedir otro enlace",
    "Press the button to sign in to Accordant.":
        "Pulse el botón para iniciar sesión en Accordant.",
    "Link not valid": "Enlace no válido",
    "This link no longer works": "Este enlace ya no funciona",
    "Sign-in links work once and only for a short time. Ask for a new one.":
        "Los enlaces para iniciar sesión funcionan una vez y por poco tiempo. Pida uno nuevo.",
    "Email me a new sign-in link": "Enviarme un enlace nuevo",
    # the menu every signed-in family member sees (base.html, _nav.html)
    "Main": "Principal",
    "Home": "Inicio",
    "Notifications": "Notificaciones",
    "Password": "Contraseña",
    "Sign out": "Cerrar sesión",
    # home page, family part
    "Welcome, %(name)s": "Le damos la bienvenida, %(name)s",
    "See what school records may be shared and with whom; say yes, no, or take back your "
    "permission.":
        "Vea qué registros escolares se pueden compartir y con quién; diga sí o no, o retire "
        "su permiso.",
    "See your children": "Ver a sus hijos",
    "See your records": "Ver sus registros",
    # notifications page
    "%(count)s unread.": "%(count)s sin leer.",
    "Show all": "Ver todas",
    "Show unread only": "Ver solo las no leídas",
    "Mark all read": "Marcar todas como leídas",
    "Open": "Abrir",
    "Mark “%(title)s” read": "Marcar «%(title)s» como leída",
    "Mark read": "Marcar como leída",
    "Read": "Leída",
    "Nothing here yet.": "Todavía no hay nada aquí.",
    # password page (labels and messages of consent.web.forms.ChangePasswordForm and its view)
    "Change password": "Cambiar la contraseña",
    "Change your password": "Cambie su contraseña",
    "Changing your password signs you out on every other device.":
        "Al cambiar su contraseña, se cierra su sesión en todos los demás dispositivos.",
    "Set a password": "Elija una contraseña",
    "With a password you can sign in without an emailed link. Setting it signs you out on "
    "every other device.":
        "Con una contraseña puede entrar sin un enlace por correo. Al elegirla, se cierra su "
        "sesión en todos los demás dispositivos.",
    "Current password": "Contraseña actual",
    "New password": "Contraseña nueva",
    "Repeat the new password": "Repita la contraseña nueva",
    "This field is required.": "Este campo es obligatorio.",
    "Field must be between 12 and 200 characters long.":
        "Debe tener entre 12 y 200 caracteres.",
    "The passwords differ.": "Las contraseñas no coinciden.",
    "This is not your current password.": "Esta no es su contraseña actual.",
    "Your password was changed and your other sessions were ended.":
        "Se cambió su contraseña y se cerraron sus otras sesiones.",
}
# The consent history names what happened, who acted and how: ledger codes, shown in
# English as they are (events humanized: "Grant"), in Spanish as event names, so
# "revoke" reads "Permiso retirado", not the button's "Retirar".
SPANISH_LEDGER = {
    "event": {
        "grant": "Permiso dado", "refuse": "Permiso negado", "revoke": "Permiso retirado",
        "supersede": "Permiso reemplazado", "expire": "Permiso terminado",
        "lapse": "Permiso caducado",
    },
    "acted_as": {"guardian": "tutor", "student": "estudiante", "staff": "personal",
                 "system": "sistema"},
    "channel": {"web": "portal web", "api": "aplicación", "paper": "en papel",
                "scheduler": "automático"},
}
# The default data-category names and the usual purposes (humanized codes). A district's
# own additions show in English until they are added here.
SPANISH_VOCABULARY = {
    "Student demographics": "Datos demográficos del estudiante",
    "Contact information": "Información de contacto",
    "Key indicators of student success": "Indicadores clave del éxito del estudiante",
    "Quarterly grades": "Calificaciones trimestrales",
    "Attendance": "Asistencia",
    "Behavior": "Conducta",
    "Academic support": "Apoyo académico",
    "Program evaluation": "Evaluación del programa",
    "Program operations": "Funcionamiento del programa",
    "Enrichment planning": "Planificación de actividades de enriquecimiento",
    "Case planning": "Planificación del caso",
    "Summer bridge": "Programa puente de verano",
    "Outcome study": "Estudio de resultados",
    "Family services": "Servicios para la familia",
    "Attendance support": "Apoyo con la asistencia",
    "College readiness": "Preparación universitaria",
    "Health services": "Servicios de salud",
    "Research": "Investigación",
}
CATALOGUES = {"es": {**SPANISH_VOCABULARY, **SPANISH}}


def current_language() -> str:
    """The signed-in person's language, else the one chosen in this browser, else English."""
    if current_user.is_authenticated and current_user.preferred_language in LANGUAGES:
        return current_user.preferred_language
    chosen = session.get("language")
    return chosen if chosen in LANGUAGES else "en"


def page_language() -> str:
    """The language of the pages everyone shares (menu, home, notifications, password).

    A family member's language (`current_language`); English for anyone with a staff
    role, whose pages are English only, so no page mixes the two.
    """
    if not has_request_context():
        return "en"
    if not current_user.is_authenticated:
        return visitor_language()
    if current_user.has_any_role(*STAFF_ROLES) or not current_user.has_any_role(*FAMILY_ROLES):
        return "en"
    return current_language()


def visitor_language() -> str:
    """The language of the sign-in pages for someone not signed in: the one chosen on
    them (kept in the session), else `?lang=` (a Spanish sign-in email links with it),
    else what the browser prefers."""
    for chosen in (session.get("language"), request.args.get("lang")):
        if chosen in LANGUAGES:
            return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default="en")


def ledger_label(kind: str, code: str | None, language: str | None = None) -> str:
    """A consent-history code as words: `kind` is "event", "acted_as" or "channel".

    English shows events humanized ("Grant") and the other codes as they are.
    """
    code = code or ""
    words = SPANISH_LEDGER[kind].get(code) if (language or current_language()) == "es" \
        else None
    if words:
        return words
    return code[:1].upper() + code[1:] if kind == "event" else code


def ledger_reason(reason: str, language: str | None = None) -> str:
    """A reason from the ledger in `language`: the system's own wordings are translated,
    what a person typed is shown as typed."""
    through = re.fullmatch(r"valid through (\d{4}-\d{2}-\d{2})", reason)
    if through:
        return translate("valid through %(date)s", language, date=through.group(1))
    return translate(reason, language)


def purpose_label(code: str, language: str | None = None) -> str:
    """A purpose code as words for people (`academic_support` -> "Academic support")."""
    text = code.replace("_", " ")
    return translate(text[:1].upper() + text[1:], language)


def purpose_phrase(code: str, language: str) -> str:
    """A purpose code as words inside a sentence or list ("academic support", "apoyo
    académico"): the English is the code spelled out, as forms and receipts always wrote it."""
    if language == "en":
        return code.replace("_", " ")
    label = purpose_label(code, language)
    return label[:1].lower() + label[1:]


# Messages written with their values already in them (by form fields and services):
# matched by pattern when the exact text is not in the catalogue.
SPANISH_PATTERNS = [
    (re.compile(r"'(.*)' is not a valid choice for this field\.", re.S),
     r"'\1' no es una opción válida."),
    (re.compile(r"consent cannot run past the agreement's end date (\S+)"),
     r"el permiso no puede durar más allá de la fecha final del acuerdo (\1)"),
    (re.compile(r"this record changed since you loaded it .*; reload it", re.S),
     "este registro cambió después de que usted abrió la página; vuelva a cargarla"),
    (re.compile(r"'(.*)' is not covered by the agreement", re.S),
     r"'\1' no está incluido en el acuerdo"),
]
PATTERNS = {"es": SPANISH_PATTERNS}


def translate(text: str, language: str | None = None, **values) -> str:
    """`text` in `language` (default: the current one), with `%(name)s` values filled in."""
    language = language or current_language()
    catalogue = CATALOGUES.get(language, {})
    result = catalogue.get(text)
    if result is None:
        result = next((pattern.sub(words, text) for pattern, words in
                       PATTERNS.get(language, ()) if pattern.fullmatch(text)), text)
    return result % values if values else result
