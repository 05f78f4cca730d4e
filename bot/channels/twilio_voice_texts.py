"""What the phone line says in each language besides the bot's own replies (reprompts, the
keypad, transfers, goodbyes), and the words speech recognition listens for (``hints``)."""

from __future__ import annotations

DEFAULT_HINTS = {
    "es": ("darme de baja, baja, cancelar el contrato, tramita la baja, es muy caro, precio, "
           "factura, tarifa, oferta, descuento, fibra, móvil, televisión, router, cortes, "
           "mudanza, me mudo, hablar con una persona, agente, sí, no, número de cliente, "
           "código postal, Nubia"),
    "en": ("cancel, cancel my contract, end my contract, too expensive, price, bill, plan, "
           "offer, discount, broadband, fibre, mobile, TV, router, outage, moving, "
           "talk to a person, agent, yes, no, customer number, postcode, Nubia"),
}

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "didnt_hear": "Perdona, no te he oído.",
        "how_can_i_help": "¿En qué puedo ayudarte?",
        "anything_else": "¿Puedo ayudarte en algo más?",
        "keypad": "Si te resulta más cómodo, también puedes usar el teclado del teléfono.",
        "keypad_human": "Pulsa 0 para hablar con una persona del equipo.",
        "or_say": "O dime en pocas palabras qué necesitas.",
        "transfer": "Te paso con una persona del equipo. Un momento, por favor.",
        "no_agent": ("Ahora mismo no puedo pasarte con nadie del equipo, pero tu caso ya está "
                     "anotado y una persona te devolverá la llamada. Mientras tanto sigo contigo "
                     "y puedo ayudarte yo, también con la baja si la quieres."),
        "agent_unavailable": ("No ha sido posible pasarte con nadie ahora mismo. Tu caso ya está "
                              "anotado y una persona te devolverá la llamada. Sigo aquí para "
                              "ayudarte."),
        "case_noted": ("No ha sido posible pasarte con nadie ahora mismo. Tu caso ya está anotado "
                       "con un resumen para el equipo, así que no tendrás que repetirlo. "
                       "Gracias por llamar."),
        "give_up": ("Parece que no te oigo bien. Si quieres, escríbenos por SMS a este mismo número "
                    "o por el chat de la web y seguimos por ahí. ¡Hasta pronto!"),
        "error": "Lo siento, he tenido un problema. ¿Me lo repites, por favor?",
        "other_language": "Para español, pulsa 9.",
    },
    "en": {
        "didnt_hear": "Sorry, I didn't hear you.",
        "how_can_i_help": "How can I help you?",
        "anything_else": "Is there anything else I can help you with?",
        "keypad": "If it's easier, you can also use your phone's keypad.",
        "keypad_human": "Press 0 to talk to a person on our team.",
        "or_say": "Or tell me in a few words what you need.",
        "transfer": "I'm putting you through to a person on our team. One moment, please.",
        "no_agent": ("I can't put you through to anyone on the team right now, but your case is "
                     "logged and a person will call you back. Meanwhile I'm still with you and "
                     "can help, with a cancellation too if that's what you want."),
        "agent_unavailable": ("I couldn't put you through to anyone right now. Your case is logged "
                              "and a person will call you back. I'm still here to help."),
        "case_noted": ("I couldn't put you through to anyone right now. Your case is already logged "
                       "with a summary for the team, so you won't have to repeat yourself. "
                       "Thanks for calling."),
        "give_up": ("I can't seem to hear you. If you like, text us at this same number or use the "
                    "chat on our website and we'll carry on there. Goodbye!"),
        "error": "Sorry, something went wrong on my side. Could you say that again?",
        "other_language": "For English, press 9.",
    },
}


def other_language(language: str) -> str:
    return "es" if language == "en" else "en"
