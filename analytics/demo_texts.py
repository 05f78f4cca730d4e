"""What the simulated customers and the assistant say in the demo history's conversations, by
language: the customers' reasons in their own words, the cancel requests, the assistant's
lines and the customers' answers (used by :class:`analytics.demo_simulation.Generator`)."""

from __future__ import annotations

VERBATIMS: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {"es": ("Me sube la factura cada año y ya pago demasiado", "es muy caro para lo que uso",
                     "No puedo seguir pagando 50 euros al mes"),
              "en": ("It's too expensive for what I get", "My bill keeps going up")},
    "competitor": {"es": ("Me ofrecen lo mismo por 10 euros menos en otra compañía", "Me voy a Movinet, es más barato"),
                   "en": ("Another provider offered me a better deal", "Switching to a cheaper company")},
    "service_failure": {"es": ("Se me cae la fibra todas las noches", "Llevo una semana sin internet"),
                        "en": ("The internet keeps dropping every evening", "No connection for days")},
    "billing_error": {"es": ("Me habéis cobrado dos veces la factura de octubre", "La factura está mal otra vez"),
                      "en": ("You charged me twice this month", "Wrong amount on my bill again")},
    "poor_support": {"es": ("Nadie me coge el teléfono cuando llamo", "Llamé tres veces y nadie me lo arregla"),
                     "en": ("Nobody answers when I call support", "Support never solves anything")},
    "low_usage": {"es": ("Casi no lo uso, no me compensa", "Apenas veo la tele"),
                  "en": ("I hardly use it", "I don't watch TV any more")},
    "financial_hardship": {"es": ("Me he quedado en paro y no puedo pagarlo", "Ahora mismo no me llega el dinero"),
                           "en": ("I lost my job and can't afford it", "Money is tight right now")},
    "relocation": {"es": ("Me mudo a otra ciudad el mes que viene", "Me cambio de piso"),
                   "en": ("I'm moving house next month", "Relocating abroad")},
    "temporary": {"es": ("Me voy seis meses fuera", "Solo lo necesito en verano"),
                  "en": ("I'll be away for a few months", "Only need it part of the year")},
    "other": {"es": ("Prefiero no decirlo", "Cosas personales, llamadme al 600 123 456"),
              "en": ("Personal reasons", "Just want to leave, email me at someone@example.org")},
}
CANCEL_TEXT = {"es": ("Quiero darme de baja", "kiero darme d baja", "Quiero cancelar mi contrato"),
               "en": ("I want to cancel my subscription", "cancel my contract please")}
BOT_TEXT = {
    "empathy": {"es": "Siento que estés pensando en dejarnos. Voy a ayudarte con ello ahora mismo.",
                "en": "I'm sorry you're thinking of leaving us. I'll help you with that right now."},
    "ask_reason": {"es": "¿Me cuentas cuál es el motivo principal por el que quieres darte de baja?",
                   "en": "Could you tell me the main reason you want to cancel?"},
    "fallback": {"es": "Perdona, no lo he entendido bien. ¿Me lo puedes decir de otra forma?",
                 "en": "Sorry, I didn't quite get that. Could you say it another way?"},
    "accepted": {"es": "¡Hecho! Ya lo he aplicado a tu contrato.", "en": "Done! I've applied it to your contract."},
    "alternative": {"es": "Entendido. Tengo otra opción que quizá te encaje mejor:",
                    "en": "Understood. I have another option that may suit you better:"},
    "cancelled": {"es": "He tramitado tu baja. Número de confirmación: {ref}.",
                  "en": "I've processed the cancellation. Confirmation number: {ref}."},
    "keep": {"es": "¡Me alegra que sigas con nosotros!", "en": "Great to hear you're staying with us!"},
    "handoff": {"es": "Te paso con una persona del equipo, enseguida te atiende.",
                "en": "I'm passing you to a person on our team, they'll be with you shortly."},
}
USER_YES = {"es": ("sí, vale", "ok, me interesa"), "en": ("yes please", "ok, sounds good")}
USER_NO = {"es": ("no, gracias", "no me interesa"), "en": ("no thanks", "not interested")}
UNCLEAR = {"es": ("pues no se, lo de siempre", "ehh"), "en": ("hmm whatever", "idk")}
