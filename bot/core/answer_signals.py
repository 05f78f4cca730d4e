"""The kinds of words an answer is made of (yes, no, stay, cancel, leave, undecided, undo, a
person), found clause by clause with their negation ("no quiero cancelar" is staying, "no me
quedo" is leaving) and hedges ("no sé si cancelar" is undecided, never yes): :func:`signals`.

Pure Python, no Rasa: ``bot.core.answers`` reads an answer from these signals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.customer_text import clauses, normalise, phrase_pattern

# Each pattern is matched against the normalised text. "si" alone is ambiguous in Spanish
# ("sí" yes / "si" if): it is a yes only at the start of a clause (see _yes_si).
_YES = re.compile(phrase_pattern(
    "vale|venga|claro|ok|okay|okey|oki|okis|dale|adelante|hecho|perfecto|de acuerdo|por supuesto|"
    "acepto|lo acepto|la acepto|aceptada|aceptado|me interesa|me vale|me parece bien|genial|"
    "estupendo|guay|bueno vale|va|sip|sii|si por favor|si porfa|me lo quedo|me la quedo|"
    "hazlo|haz lo|tramitalo|tramitala|aplicalo|aplicamelo|apuntame|apuntamelo|por que no|"
    "que si|pues si|claro que si|si si|si me interesa|si me vale|si me parece bien|si lo quiero|"
    "si la quiero|si por favor|me quedo con eso|me quedo con esa|me quedo con la oferta|"
    "me quedo con el descuento|me quedo con ella|me quedo con esto|i'll take that|i'll have it|"
    "yes|yeah|yea|yep|yup|sure|fine|deal|go ahead|go on|do it|please do|alright|all right|"
    "sounds good|sounds great|why not|let's do it|lets do it|i'll take it|ill take it|proceed|process it|"
    "i accept|accept|absolutely|definitely|of course|great|perfect|cool|k|kk|y|s|"
    "👍|👌"))
_NO = re.compile(phrase_pattern(
    "no|nop|nope|noo|nah|na|ni hablar|para nada|en absoluto|paso|tampoco|mejor no|que no|"
    "no gracias|no thanks|no thank you|not interested|no me interesa|no interesa|nunca|never|"
    "negative|n|👎"))
_STAY = re.compile(phrase_pattern(
    "me quedo|me quedare|sigo|seguir|quiero seguir|seguire|sigo igual|sigo como estoy|sigo con vosotros|"
    "de momento sigo|me quedo como estoy|me quedo asi|lo dejo como esta|dejalo como esta|"
    "dejadlo como esta|dejalo asi|dejalo igual|seguir igual|seguir como estoy|seguir con vosotros|"
    "mantener|mantengo|lo mantengo|continuar|continuo|olvidalo|olvidate|da igual dejalo|"
    "i'll stay|ill stay|i will stay|i'd rather stay|stay|staying|keep it|keep my service|"
    "keep everything|keep it as it is|leave it as it is|leave it|as i am|as it is|as things are|"
    "i'll keep|ill keep|i will keep|keep the service|never mind|nevermind|forget it|forget about it|"
    "carry on as|continue as"))
_CANCEL = re.compile(phrase_pattern(
    "cancela|cancelalo|cancelala|cancelar|cancelad|cancelame|cancelarlo|cancelacion|cancelo|"
    "cancelen|canceleis|canceles|cancele|deis de baja|des de baja|den de baja|"
    "tramita la baja|tramitala|tramitame la baja|tramitad la baja|tramitar la baja|la tramites|"
    "tramites la baja|tramitadla|tramitemela|hazme la baja|haz la baja|procesa la baja|"
    "quiero la baja de todo|la baja ya|dar de baja|darle de baja|me doy de baja|nada de ofertas|"
    "dame de baja|darme de baja|dadme de baja|doy de baja|me doy de baja|quiero la baja|la baja|"
    "baja ya|de baja|dejarlo todo|mi baja|baja temporal|"
    "rescindir|rescinde|cerrar la cuenta|cierra la cuenta|cierra mi cuenta|"
    "cancel|cancel it|cancel me|cancelled|canceled|cancelling|canceling|cancellation|terminate|terminate it|"
    "close my account|close the account|close it|shut it down|end it|end my contract|"
    "end the contract|"
    "quit|unsubscribe"))
# Saying one is leaving ("me voy a o2", "I'm leaving"): a wish to cancel, but at the reason
# question it is the reason being told, not a request to process the cancellation now.
# Ending the relationship in other words counts too ("he firmado con Digi", "this is my last
# month with you"). Whether a bare "me voy" / "I'm going" is about leaving us depends on what
# follows (_leaves_us): "me voy de viaje", "I'm going on Erasmus" are not.
#: the bare verbs of leaving whose meaning hangs on what follows
_BARE_LEAVE_WORDS = ("me voy|me voy a ir|nos vamos a ir|irme|me quiero ir|quiero irme|me marcho|me largo|"
                     "me piro|i'm leaving|im leaving|leaving|leave|i'm going|switching|i'm out|im out|me salgo|salirme|"
                     "me borro|borrarme|moving to|moved to|i've moved to|me he ido a|me he cambiado a")
_BARE_LEAVE = frozenset(_BARE_LEAVE_WORDS.split("|"))
_LEAVE = re.compile(phrase_pattern(
    _BARE_LEAVE_WORDS,
    "dejaros|os dejo|no renuevo|no voy a renovar|no renovare|no quiero renovar|"
    "not renewing|won't renew|will not renew|not going to renew|don't want to renew|"
    "dont want to renew|"
    "dejo nubia|dejar nubia|dejar la compania|dejo la compania|dejar el servicio|dejo el servicio|"
    "dejar de ser cliente|dejo de ser cliente|dejar de ser vuestro cliente|"
    "me cambio de compania|me cambio de operador|cambiarme de compania|cambiarme de operador|"
    "cambio de compania|cambio de operador|me paso a|me he pasado a|me porto a|portarme a|"
    "portar mi numero a|portabilidad a|he contratado con|he firmado con|ya he contratado|"
    "ultimo mes con vosotros|ultimo mes con nubia|mi ultimo mes|"
    "terminar el contrato|terminar mi contrato|finalizar el contrato|finalizar mi contrato|"
    "romper el contrato|romper mi contrato|resolver el contrato|acabar con el contrato|"
    "dar por terminado|dar por finalizado|dar por finalizados|dar por terminados|"
    "cerrarlo todo|cerrar todo|prescindir de sus servicios|prescindo de sus servicios|"
    "i want out|"
    "end my service|end my services|end my account|stop being a customer|no longer be a customer|"
    "my last month|last month with you|last month with nubia|taking my business elsewhere|"
    "go elsewhere|going elsewhere|switch providers|switching providers|change providers|"
    "signed up with|port my number to|porting my number to|porting out|moving to another provider|"
    "close everything|close it all|shut everything down"))
# Leaving in the words of a blind author asked, without sight of this project, for the phrases
# with which customers end a telecom contract without "cancel" or "baja" (2026-12-04; the ones
# that also mean other things were left out: "early termination fee", "pac code", "port my
# number", "solicito la portabilidad" (a number may come in as well as go out)).
_LEAVE_IN_OTHER_WORDS = re.compile(phrase_pattern(
    "me cambio de compania|cambiarme de compania|me voy a otra compania|me paso a otra compania|"
    "me voy con otro operador|me cambio de operador|cambio de operador|me paso a otro operador|"
    "me cambio a otra empresa|me voy a la competencia|me paso a la competencia|"
    "me voy con la competencia|me paso a movistar|me voy a vodafone|me cambio a orange|"
    "me paso a digi|me voy a masmovil|me cambio a pepephone|me paso a claro|me porto a telcel|"
    "portarme a otra compania|portabilidad a otro operador|llevarme las lineas a otra|"
    "ya contrate con otra compania|ya tengo otra compania|ya no quiero ser cliente|"
    "dejar de ser cliente|no deseo seguir siendo cliente|no quiero seguir con vosotros|"
    "no sigo con ustedes|no quiero continuar con nubia|no voy a renovar|no renovare el contrato|"
    "no prorrogar el contrato|rescindir el contrato|rescision del contrato|rescindo mi contrato|"
    "resolucion contractual|resolucion del contrato|resolucion anticipada del contrato|"
    "solicito la resolucion del contrato|manifiesto mi voluntad de rescindir|"
    "comunico mi voluntad de resolver|manifiesto mi voluntad de desvincularme|"
    "preaviso de resolucion|notificacion de rescision|extincion del contrato|"
    "finalizar el contrato|finalizacion del contrato|dar por terminado el contrato|"
    "dar por finalizada la relacion|poner fin al contrato|terminar mi contrato|"
    "terminacion del contrato|terminacion anticipada del contrato|fin de la relacion comercial|"
    "terminar la relacion contractual|anular el contrato|anulacion del contrato|"
    "anular todos los servicios|desistimiento del contrato|ejercer el derecho de desistimiento|"
    "cerrar mi cuenta|cierre de la cuenta|quitar todos los servicios|prescindir de sus servicios|"
    "ya no necesito sus servicios|ya no quiero nada con nubia|desvincularme de la compania|"
    "retirarme de la compania|romper el contrato|salirme del contrato|librarme del contrato|"
    "deshacerme del contrato|me voy de nubia|irme de nubia|quiero irme de la compania|"
    "me salgo de nubia|dejar nubia|dejar la compania|abandonar la compania|abandono nubia|"
    "os dejo por otra|me piro de nubia|me piro a otra compania|me largo de nubia|"
    "me largo a otra compania|os mando a paseo|os mando a tomar viento|a la mierda nubia|"
    "quedaos con vuestra fibra|hasta nunca|nunca mas con nubia|esto es un adios|adios nubia|"
    "chau nubia|me despido de nubia|me voy para siempre|me voy y no vuelvo|"
    "hasta aqui hemos llegado|se acabo lo nuestro|se acabo nubia|rompo con nubia|"
    "habeis perdido un cliente|desconexion definitiva|como me voy de nubia|que necesito para irme|"
    "pago la penalizacion y adios|aunque tenga penalizacion me voy|estoy harto me voy|"
    "me fui con otra compania|me paso a otra cia|switching providers|"
    "switching to another provider|switching carriers|switching networks|"
    "moving to another provider|going with another provider|moving to vodafone|switching to bt|"
    "going to ee|moving to virgin media|switching to verizon|going with t mobile|"
    "leaving for a competitor|leaving for another carrier|signed up with another provider|"
    "found a better deal elsewhere|taking my business elsewhere|porting my number out|port out|"
    "transfer my number out|take my number elsewhere|i'm leaving nubia|leaving nubia|"
    "i want to leave|how do i leave|i'm done with you|done with nubia|i'm through with you|"
    "this is goodbye|goodbye nubia|so long nubia|bye bye nubia|never again nubia|"
    "you've lost a customer|you just lost me|i'm outta here|i'm jumping ship|ditching nubia|"
    "dumping nubia|breaking up with nubia|it's over nubia|parting ways|cut ties with nubia|"
    "i'm quitting nubia|i quit your service|close my account|shut down my account|"
    "deactivate all my lines|terminate my contract|termination of contract|"
    "terminate the agreement|end my contract|end our relationship|exit my contract|"
    "get out of my contract|want out of my contract|rescind my contract|not renewing|"
    "won't be renewing|do not wish to renew|let my contract expire|not extending my contract|"
    "no longer want your services|no longer wish to be a customer|stop being a customer|"
    "no longer require your services|discontinue all services|disconnect all services|"
    "terminate all services|notice of termination|giving my 30 days notice|"
    "please accept this as notice|hereby give notice to terminate|im leaving u guys|"
    "won't be continuing with you|moving on from nubia",
    # from a second blind author's training first messages (2026-12-07), the ones this reader
    # did not see as leaving
    "no vais a ser mi compania|no vais a ser mi operador|no sereis mi compania|"
    "no quiero saber nada mas de nubia|no quiero saber nada de nubia|cuando me vaya de nubia|"
    "no quiero ser cliente vuestro|no quiero ser vuestro cliente|no quiero ser cliente de ustedes|"
    "no ser cliente de ustedes|no ser cliente vuestro|no quiero ser de nubia|no quiero mas nubia|"
    "no mas nubia|desvincularme|me desvinculo|desvincularnos|acabar con vosotros|acabo con vosotros|"
    "terminar con nubia|terminar con vosotros|acabar con nubia|terminar con todos los servicios|"
    "salir de nubia|salirme de nubia|salirnos de nubia|dejamos nubia|dejaremos nubia|"
    "prescindir de todos vuestros servicios|prescindir de vuestros servicios|"
    "prescindir de todos sus servicios|no quiero nada con ustedes|no quiero nada con vosotros|"
    "no quiero nada de vosotros|no quiero nada mas de vosotros|no quiero nada de ustedes|"
    "fin a mi contrato|fin al contrato|fin a todos los servicios|fin a todos mis servicios|"
    "fin a mis servicios|ya no os necesito|deje de cobrarme para siempre|dejeis de cobrarme para siempre|"
    "doy por finalizado|doy por terminado|marcharme|marcharnos|irnos de nubia|"
    "quiero que mi contrato termine|quiero que el contrato termine|lo nuestro se ha terminado|"
    "lo nuestro se ha acabado|lo nuestro ha terminado|lo nuestro se termina|"
    "dejar todos los servicios|dejar todos vuestros servicios|dejadme ir|ya no necesito nubia|"
    "no necesito nubia|os podeis olvidar de mi|olvidaos de mi|mi ultima factura con|"
    "sea mi ultima factura|ultima factura con vosotros|quiero que mi cuenta se cierre|"
    "que se cierre mi cuenta|no conteis conmigo|"
    "stop being a nubia customer|no longer want to be a nubia customer|"
    "no longer want to be a customer|don't want to be your customer|dont want to be your customer|"
    "don't want to be a customer|won't be my provider|will not be my provider|we're finished|"
    "i'm finished with|finished with nubia|finished with you|shut it all down|shut down my nubia|"
    "wrap up all my services|wrap up my services|end things with you|end my agreement|"
    "my last bill with|last bill with nubia|be my last bill|get out of this contract|"
    "get out of the contract|i'm gone|im gone|breaking up with you|break up with you|no more nubia|"
    "finish with you|stop being with nubia|stop being with you"))
#: what may follow "me voy" / "I'm leaving" when it means leaving us: nothing, a reason, us, or
#: where to; "me voy de viaje", "me voy a Portugal el lunes", "I'm out of work" are not
_LEAVE_TAIL = re.compile(
    r"^(?:$|(?:que|ya|porque|pq|xq|so|then|entonces|pues|asi que|for good|definitivamente|"
    r"del todo|ya mismo|now|today|hoy|tambien|too|igual|de todas formas|de todos modos|either way|"
    r"regardless|anyway|anyways|elsewhere|somewhere else|a otro sitio|a otra parte)\b)")
#: other operators by name (Spain, the UK, the Americas): the one list, also read by
#: ``customer_statements`` for the competitor reason
OPERATOR_NAMES = ("movistar|vodafone|orange|digi|o2|yoigo|masmovil|mas movil|pepephone|lowi|simyo|"
                  "jazztel|finetwork|euskaltel|telecable|r cable|adamo|avatel|bt|ee|sky|virgin|"
                  "virgin media|talktalk|plusnet|three|verizon|t-mobile|at&t|comcast|xfinity|spectrum|"
                  "starlink|claro|telcel|tigo")
#: another operator without its name
OTHER_OPERATOR_WORDS = ("otra compania|otro operador|otra operadora|another provider|another network|"
                        "another operator|another company")
_OTHER_OPERATORS = OPERATOR_NAMES + "|" + OTHER_OPERATOR_WORDS
_US = re.compile(phrase_pattern(
    "nubia|vosotros|vosotras|ustedes|aqui|you|you guys|here|compania|operador|operadora|company|"
    "provider|providers|network|carrier|la competencia|competencia|competitor|the competition|"
    "otra|otro|another|ningun sitio|ninguna parte|ningun lado|anywhere", _OTHER_OPERATORS))
# The number taken to another operator: "he pedido la portabilidad del fijo y los móviles a Digi"
_PORT_OUT = re.compile(r"(?<![a-z0-9])(?:portabilidad|portar|porto|portado|port|porting|ported|transfer|"
                       r"transferring)\b[^.?!¿¡]{0,50}?\b(?:a|al|to)\s+" + phrase_pattern(_OTHER_OPERATORS))


# Ending the account in any words: a verb of ending with the contract, the account, the plan or
# the whole service as its object ("quiero terminar mi plan", "close the subscription", "¿cómo lo
# cerramos todo?"), or the noun ("la rescisión del contrato", "termination of the contract").
# (not "termina", "acaba", "finaliza": "¿cuándo termina mi contrato?" asks about its end)
_END_VERBS = (r"terminar|terminad|terminame|finalizar|cerrar|cierra|cerrad|cerramos|"
              r"cierro|romper|rompo|resolver|acabar|anular|anula|anulad|anulen|quitar|quitarlo|"
              r"quitadlo|quitalo|eliminar|borrar|end|ending|close|closing|terminate|terminating|stop|"
              r"finish|shut|shut down|get rid of|discontinue|dar por terminado|dar por finalizado|"
              r"dar por terminada|dar por finalizada|dar por terminados|dar por finalizados")
_END_OBJECTS = (r"contrato|contratos|cuenta|plan|suscripcion|servicio|servicios|relacion|todo|"
                r"contract|contracts|account|plan|subscription|service|services|membership|everything")
_ENDING = re.compile(
    r"(?<![a-z0-9])(?:" + _END_VERBS + r")(?:\s+(?:con|de|with))?"
    r"(?:\s+(?:el|la|los|las|mi|mis|my|the|this|our|su|sus|tu|lo|all|it|por completo|un|una|"
    r"todos los|todas las|todos mis|todos sus|todos vuestros|all my|all the|all of my|all his|all her|"
    r"the whole|my whole|the entire|his|her|their|all our))?(?:\s+nubia)?\s+(?:"
    + _END_OBJECTS + r")(?![a-z0-9])|"
    r"(?<![a-z0-9])(?:rescision|resolucion|terminacion|finalizacion|termination|cancelacion|"
    r"cancellation)\s+(?:del|de mi|de el|de la|of the|of my)\s+(?:contrato|cuenta|contract|account|"
    r"servicio|service)(?![a-z0-9])")


def _leaves_us(clause: str, start: int, end: int) -> bool:
    """"Me voy", "me voy a Movistar", "me voy de Nubia", "I'm leaving you": leaving us. "Me voy
    de viaje", "me voy a trabajar a Suiza", "leaving the country", "I'm going on Erasmus", "I'm
    out of work": the same verb about something else."""
    if clause[start:end] not in _BARE_LEAVE:
        return True
    tail = clause[end:].strip()
    return bool(_LEAVE_TAIL.match(tail)) or bool(_US.search(" ".join(tail.split()[:4])))


#: what a cancel verb may be about and still mean the service ("cancela mi cuenta", "cancel the
#: whole thing"); anything else after a determiner is another thing ("cancelen la orden de compra")
_ACCOUNT_WORDS = frozenset("""cuenta cuentas contrato contratos servicio servicios suscripcion
    suscripciones linea lineas fibra internet movil moviles tele television tv fijo telefono paquete
    pack tarifa plan permanencia baja alta todo toda todos todas nubia relacion compania contratacion
    account accounts contract contracts service services subscription subscriptions membership line
    lines broadband fibre fiber wifi mobile phone landline package bundle tariff deal everything lot
    whole entire complete full thing things completo completa entero entera actual current main
    principal personal my mi""".split())
#: what may be the service itself or an add-on, told apart by what it is of ("el servicio de
#: contestador" is an add-on, "el servicio de fibra" the service)
_ADD_ONS = frozenset("suscripcion paquete pack bono subscription package".split())
_DETERMINERS = frozenset("el la los las mi mis tu tus su sus un una este esta ese esa the my your "
                         "this that these those our a an del al".split())
_NP_STOP = frozenset("de del con a al para por que y o to of with for from that which and or "
                     "please porfa favor ya now ahora hoy today asap".split())


def _add_on_of(noun: str, following: list[str]) -> bool:
    """"(la) suscripción a Netflix", "(el) paquete de fútbol": an add-on, not us; "la suscripción
    de fibra", "my subscription for good" are us."""
    if noun not in _ADD_ONS or len(following) < 2 or following[0] not in ("a", "al", "de", "del", "to", "for"):
        return False
    thing = following[2] if following[1] in _DETERMINERS and len(following) > 2 else following[1]
    return not ({thing} & (_ACCOUNT_WORDS | _DETERMINERS | _US_WORDS | _NP_STOP)) and thing not in (
        "good", "ever", "siempre", "streaming", "cable", "telefonia", "datos", "data")


#: "la suscripción con Nubia", "el servicio de vosotros": still us
_US_WORDS = frozenset("nubia vosotros ustedes you".split())


def _named_after_cancel(clause: str, end: int) -> str | None:
    """What a cancel verb names, when it is not the service: "add_on" ("cancela la suscripción a
    Netflix"), "object" ("cancela el pedido", "cancel the tablet purchase", "cancelad mi
    asistencia"), else None (nothing named, or the service: "cancel my cable service")."""
    words = clause[end:].split()
    while words and words[0] in ("de", "me", "lo", "la", "it", "please"):
        if words[0] in ("la", "lo") and len(words) > 1 and words[1] not in _DETERMINERS:
            break  # "cancelar la pelicula": "la" is the determiner
        words = words[1:]
    if len(words) < 2 or words[0] not in _DETERMINERS or words[1] in _NP_STOP:
        return None  # "cancel immediately", "cancela ya", "cancel this": nothing named
    if _add_on_of(words[1], words[2:]):
        return "add_on"
    # the words named, up to a preposition: none of them the service ("the tablet purchase", "la
    # orden de compra"); "my cable service", "the apartment internet" are the service
    named = []
    for word in words[1:4]:
        if word in _NP_STOP or word in ("i", "we", "you", "que", "which"):
            break
        named.append(word)
    return "object" if named and not any(w in _ACCOUNT_WORDS for w in named) else None


_UNDECIDED = re.compile(phrase_pattern(
    "no se|nose|ns|no lo se|nose que|me lo pienso|me lo pensare|me lo voy a pensar|lo pienso|"
    "pensarlo|pensarmelo|lo tengo que pensar|tengo que pensarlo|tengo que pensarmelo|"
    "dejame pensarlo|dejame pensar|deja que lo piense|lo consulto|tengo que consultarlo|"
    "quiza|quizas|quizás|tal vez|puede|puede ser|a lo mejor|ya veremos|ya os digo|ya te digo|"
    "ya os cuento|ya te cuento|luego te digo|luego os digo|manana te digo|depende|no estoy seguro|"
    "lo tengo que hablar|tengo que hablarlo|lo hablo con|lo tengo que consultar|consultarlo con|"
    "te digo algo|os digo algo|ya lo vere|lo mirare|i'll let you know|let you know|"
    "talk to my wife|talk to my husband|talk to my partner|check with my|ask my|"
    "hold on|not yet|wait|espera|un momento|todavia no|aun no|maybe later|"
    "no estoy segura|no lo tengo claro|no lo tengo tan claro|igual si|mmm|hmm|ehh|"
    "maybe|perhaps|not sure|unsure|i don't know|i dont know|dont know|don't know|dunno|idk|"
    "let me think|i'll think|ill think|think about it|think it over|need to think|"
    "i need time|give me time|get back to you|we'll see|well see|possibly|not yet|undecided|"
    "i'm torn|im torn|hard to say|no idea|me lo estoy pensando|lo estoy pensando|me lo estoy planteando|"
    "lo estoy valorando|i'm thinking about it|im thinking about it|thinking about it|considering it"))
_UNDO = re.compile(phrase_pattern(
    "anula la baja|anular la baja|anulad la baja|anulame la baja|cancela la baja|cancelar la baja|"
    "quita la baja|retira la baja|retirar la baja|deshaz la baja|deshacer la baja|deshacerla|"
    "reactivad|reactiva|reactivar|reactivame|reactivadme|me he liado|vuelve a activar|"
    "no quiero darme de baja ya|al final no me doy de baja|al final me quedo|undo that|can you undo|"
    "keep my service after all|i want to stay after all|i want to keep my service|"
    "me he arrepentido|me arrepiento|he cambiado de opinion|cambie de opinion|cambio de opinion|"
    "ya no quiero la baja|ya no quiero darme de baja|no quiero la baja|"
    "undo|undo it|undo the cancellation|reverse the cancellation|revert|reverse it|"
    "cancel the cancellation|cancel my cancellation|changed my mind|change my mind|"
    "i've changed my mind|reinstate|reactivate|don't want to leave anymore|"
    "dont want to leave anymore|don't want to cancel anymore|dont want to cancel anymore"))
_HUMAN = re.compile(phrase_pattern(
    "persona|una persona|humano|un humano|agente|un agente|operador|operadora|alguien de verdad|"
    "human|a human|a person|real person|agent|an agent|representative|operator|someone real|"
    "speak to someone|talk to someone"))
# Phrases with a "no" that is not an answer ("no me hagas repetirlo", "no problem").
_NOT_NO = re.compile(phrase_pattern(
    "no me hagas repetirlo|no me hagas repetir|no me lo hagas repetir|no te lo repito|no problem|"
    "no worries|no hay problema|no pasa nada|ni idea|no doubt|sin duda|no lo dudes|"
    # the service failing, told again in answer to an offer ("pues que no funciona"): a
    # complaint, not a "no" to the offer (walk finding: it cancelled the service)
    "no funciona|no funcionan|no me funciona|no nos funciona|no me funcionan|no va nada|no me va el|"
    "no me va la|no va el|no va la|no va internet|no me va internet|no carga|no conecta|"
    "no se conecta|no tengo internet|no tengo linea|no tengo cobertura|no tengo senal|"
    "no hay internet|no hay cobertura|no hay senal|no hay linea|no se ve la tele|no tengo tele|"
    "not working|isn't working|is not working|no signal|no internet|no connection|no coverage"))


@dataclass(frozen=True)
class _Hit:
    kind: str
    negated: bool
    hedged: bool
    initial_negator: bool = False  # negated by a "no" that opens the clause ("no me quedo")
    considered: bool = False  # thought about, not decided: "estoy pensando en darme de baja"


# "sigo sin internet" is a complaint, not staying: such phrases are removed before reading.
_NOT_STAY = re.compile(phrase_pattern(
    "sigo sin|me quedo sin|me he quedado sin|nos quedamos sin|nos hemos quedado sin|quedarme sin|"
    "sigo con problemas|sigo con el problema|sigo teniendo|sigo esperando|sigo pagando|"
    "seguir pagando|seguir esperando|sigo igual de mal|still waiting|still paying|still without"))


#: words that may stand between a negator and what it negates ("no QUIERO QUE ME des de baja",
#: "I DON'T WANT TO cancel"); anything else ends its reach ("no, I SAID cancel it")
_FILLERS = frozenset("""lo la le les me te se nos os quiero queremos quiere voy vamos va a de que
    el mi tu su want to do i it really realmente going will would me you the my please por favor
    ya tan mas des deis den de hagas hagais hagan tramites tramiteis tramiten cancelen canceleis
    canceles cancele demos me pienso pensamos tengo intencion intend intending planning plan
    plans""".split())


def _negator_at(clause: str, start: int) -> int | None:
    """The index (in words) of the negator whose reach covers the phrase at ``start``, if any."""
    words = clause[:start].split()
    for i in range(len(words) - 1, max(-1, len(words) - 7), -1):
        word = words[i]
        if word in ("no", "not", "don't", "never", "nunca", "ni", "tampoco", "won't", "can't",
                    "sin", "without"):  # "¿puedo cambiar de tarifa sin darme de baja?"
            return i if all(w in _FILLERS for w in words[i + 1:]) else None
        if word not in _FILLERS:
            return None
    return None


_YES_LEADS = frozenset({"vale", "venga", "claro", "pues", "bueno", "que", "ok", "yes", "yeah"})


def _hedged(clause: str, start: int) -> bool:
    """A phrase asked about, not decided: "no sé si cancelar", "whether to leave", "should I"."""
    before = clause[:start].split()
    if re.search(r"\b(whether|should i|deberia|o no|or not)\b", " ".join(before[-3:])):
        return True
    for j in range(len(before) - 1, max(-1, len(before) - 3), -1):
        if before[j] == "if":
            return True
        if before[j] == "si":  # "vale venga si me interesa" is a yes, "no se si cancelar" a hedge
            if j + 1 < len(before) and before[j + 1] in _SUBJUNCTIVE:
                return True  # "si quisiera terminar el contrato": supposed, not asked for
            return j > 0 and before[j - 1] not in _YES_LEADS
    return False


#: words before a cancel or leave phrase that make it something considered, not decided
_CONSIDERING = re.compile(phrase_pattern(
    "pensando en|pensado en|planteando|plantearme|planteo|considerando|valorando|me lo planteo|"
    "thinking of|thinking about|considering|might|tempted to|wondering about"))


def _considered(clause: str, start: int) -> bool:
    """"Estoy pensando en darme de baja", "I might cancel": leaving thought of, not asked for."""
    return bool(_CONSIDERING.search(" ".join(clause[:start].split()[-4:])))


def _hits(clause: str) -> list[_Hit]:
    """Every phrase found, longest first across kinds ("me quedo con eso" is a yes, not
    "me quedo"), with negation and hedging applied."""
    found: list[tuple[int, int, str]] = []
    leading_si = _yes_si(clause)
    for kind, pattern in (("undo", _UNDO), ("undecided", _UNDECIDED), ("stay", _STAY),
                          ("cancel", _CANCEL), ("leave", _LEAVE), ("leave", _ENDING), ("leave", _LEAVE_IN_OTHER_WORDS),
                          ("human", _HUMAN), ("no", _NO),
                          ("yes", _YES), ("not_no", _NOT_NO)):
        for m in pattern.finditer(clause):
            found.append((m.start(), m.end(), kind))
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    taken: list[tuple[int, int]] = [(0, len(clause.split()[0]))] if leading_si else []
    out: list[_Hit] = []
    kept: list[tuple[int, int, str]] = []
    negators: set[int] = set()
    for start, end, kind in found:
        if any(start < e and s < end for s, e in taken):
            continue  # inside a longer phrase already read ("no se" is not "no")
        taken.append((start, end))
        if kind == "not_no":
            continue
        if kind == "yes" and clause[start:end] in ("y", "s", "k", "va") and len(clause.split()) > 2:
            continue  # one-letter words inside a sentence are not a yes
        if kind == "leave" and not _leaves_us(clause, start, end):
            continue  # "me voy de viaje"
        named = (_named_after_cancel(clause, end) if kind == "cancel" else
                 "add_on" if kind == "leave" and _add_on_of(clause[start:end].split()[-1], clause[end:].split())
                 else None)
        if named:  # another thing than the service: a strong sign when it is an add-on by name
            kept.append((start, end, "object"))
            out.append(_Hit("other_thing" if named == "add_on" else "object", False, False))
            continue
        kept.append((start, end, kind))
        negator = _negator_at(clause, start) if kind not in ("no", "undecided", "undo") else None
        hedged = kind in ("stay", "cancel", "leave", "yes") and not leading_si and _hedged(clause, start)
        considered = kind in ("cancel", "leave") and _considered(clause, start)
        out.append(_Hit(kind, negator is not None, hedged or considered, initial_negator=negator == 0,
                        considered=considered))
        if negator is not None:
            negators.add(len(" ".join(clause[:start].split()[:negator])) + (1 if negator else 0))
    # a "no" that negates what follows ("no quiero cancelar") is not an answer "no"
    out = [h for h, (s, _, k) in zip(out, kept) if not (k == "no" and s in negators)]
    if leading_si:
        out.append(_Hit("yes", False, False))
    return out


#: "si quisiera irme", "si decidiera cancelar": a supposition after "si" (never a "sí")
_SUBJUNCTIVE = frozenset("quisiera quisiese tuviera fuera hubiera decidiera cancelara cancelase dejara "
                         "cambiara".split())


def _yes_si(clause: str) -> bool:
    """A Spanish "sí" written without accent: at the start of the clause or alone."""
    words = clause.split()
    return bool(words) and words[0] in ("si", "sip", "sii", "sí") and (
        len(words) == 1 or words[1] not in ("es", "no", "me", "te", "lo", "la", "quiero", "puedo",
                                            "cancelo", "tengo", "hay", "pudiera", *_SUBJUNCTIVE))


# A question about when the contract or the commitment ends is not a wish to leave.
_CONTRACT_END = re.compile(
    r"(cuando|hasta cuando|que dia|que fecha|fecha)\b.{0,30}\b(termina|acaba|vence|finaliza|expira|"
    r"fin)\b.{0,20}\b(contrato|permanencia|compromiso)|"
    r"\b(cuando|hasta cuando)\b.{0,15}\b(tengo|me queda|dura)\b.{0,10}\bpermanencia|"
    r"\bwhen\b.{0,25}\b(contract|commitment|minimum term)\b.{0,20}\b(end|ends|expire|expires|finish|over|up)\b|"
    r"\bwhen\b.{0,10}\b(does|do|will)\b.{0,10}\b(my )?(contract|commitment)\b|"
    r"\b(end|expiry) date of my (contract|commitment)\b|"
    r"\b(contract|commitment|minimum term)('s| is)? (ending|expiring|up soon|coming to an end)\b|"
    r"\bse me (acaba|termina|vence)\b.{0,5}\b(el )?(contrato|permanencia|compromiso)\b")
# Something else is named as what to cancel ("cancela el pedido", "cancel my order"): a
# look-alike, never the service.
# (the nouns with a determiner where the bare word is also a verb: "he pedido", "pago demasiado",
# "in order to", "transfer my number")
_OBJECT = re.compile(phrase_pattern(
    "el pedido|mi pedido|un pedido|del pedido|ese pedido|la cita|la visita|visita|tecnico|el tecnico|"
    "el pago|un pago|mi pago|ese pago|transferencia|el recibo|un recibo|ese recibo|domiciliacion|"
    "reserva|suscripcion a la newsletter|newsletter|tarjeta|la tarjeta|seguro del movil|el seguro|"
    "seguro de|my order|the order|an order|this order|that order|appointment|visit|technician|"
    "the payment|a payment|my payment|that payment|bank transfer|the transfer|a transfer|"
    "booking|reservation|direct debit|newsletter|card|my card|the card|meeting|insurance|"
    "netflix|disney|hbo|max|spotify|amazon prime|prime video|dazn|filmin|contestador|voicemail|"
    "bono|roaming|add-on|addon|la compra|the purchase|purchase|pelicula|movie|alquiler|rental|"
    "marketing|publicidad|advertising|mensajes promocionales|promotional"))


# A yes that comes with a condition, a question or a "first tell me": not yet a yes to act on.
_QUALIFIED_YES = re.compile(
    r"\b(siempre que|solo si|only if|as long as|provided|con tal de|dime|digame|dimelo|tell me|"
    r"explain|explicame|quiero saber|want to know|cuanto|how much|catch|trampa|letra pequena|"
    r"small print|fine print|que pasa si|what happens|what if|y si)\b")


def signals(text: str) -> frozenset[str]:
    """The kinds of words found, with negation applied: a negated stay is a cancel and back."""
    norm = _NOT_STAY.sub(" ", normalise(text))
    found: set[str] = set()
    for clause in clauses(norm) or [norm]:
        for hit in _hits(clause):
            kind = hit.kind
            if hit.negated:
                # "ya no quiero seguir" leaves; but "no me quedo" opening the answer cannot be
                # told from "no, me quedo" in a transcript without commas: unsure, never a cancel
                kind = {"stay": "not_stay_initial" if hit.initial_negator else "not_stay",
                        "cancel": "stay", "leave": "stay", "yes": "no", "human": ""}.get(kind, kind)
            if hit.considered and not hit.negated:
                found.add("considering")  # still someone who spoke of leaving
            if hit.hedged and kind in ("cancel", "leave", "stay", "yes"):
                kind = "undecided"
            if kind == "leave":
                found.add("leave")
                kind = "cancel_said"
            elif kind == "cancel":
                found.add("cancel_word")
            if kind == "cancel_said":
                kind = "cancel"
            if kind:
                found.add(kind)
    if "not_stay" in found:  # "ya no quiero seguir": leaving, unless a yes or no says otherwise
        found.discard("not_stay")
        found.add("undecided" if found & {"yes", "no"} and "cancel" not in found else "cancel")
    if "not_stay_initial" in found:
        found.discard("not_stay_initial")
        if "cancel" not in found:
            found.add("undecided")
    if _PORT_OUT.search(norm) and not found & {"stay", "undecided"}:  # across "y": read on the whole
        found |= {"leave", "cancel"}
    if _CONTRACT_END.search(norm):
        found.add("contract_end")
    if _OBJECT.search(norm):
        found.add("other_thing")
    if "other_thing" in found:  # named for sure, not only guessed from the words after the verb
        found.add("object")
    if "yes" in found and re.search(r"\b(?:pero|but)\b", norm):
        tail = re.split(r"\b(?:pero|but)\b", norm, maxsplit=1)[1]
        tail_kinds = {h.kind if not h.negated else "no" for h in _hits(tail)}
        if not re.sub(r"\W+", "", tail) or tail_kinds & {"no", "undecided", "cancel", "stay"}:
            found.add("undecided")  # "vale, pero no sé", "ok but no", a trailing "vale, pero..."
    if "yes" in found and (_QUALIFIED_YES.search(norm) or "?" in text):
        found.add("conditional")  # "sí, pero antes dime si hay penalización", "yes but what's the catch?"
    return frozenset(found)

