"""Seeded generator of voice-banking episodes: ASR noise, partial requests filled in over turns."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from rlkit.envs.banking import BankingEnv
from rlkit.envs.base import Episode, Step, Turn, call_step
from rlkit.envs.phrasing import Intent, asr_noise, casualize, number_words, spell_digits
from rlkit.toolcall.call import ToolCall

ACCOUNT_WORDS = {"checking": ("checking", "checking account"), "savings": ("savings", "savings account"),
                 "credit": ("credit card", "credit")}
PERIOD_WORDS = {"last_month": ("last month", "the past month"),
                "last_3_months": ("the last 3 months", "the last three months", "the past three months"),
                "last_year": ("last year", "the past year", "the last twelve months")}
DEPT_WORDS = {"fraud": ("the fraud department", "fraud"), "loans": ("someone about a loan", "the loans team"),
              "technical": ("technical support", "tech support"), "general": ("customer service", "someone in general")}
PAYEES = ("Verizon", "Comcast", "electric", "gas company", "rent", "water", "phone", "internet", "AT&T",
          "landlord", "insurance", "Spotify", "city utilities", "daycare", "T-Mobile", "Xfinity")
REASON_WORDS = {"lost": "I lost it", "stolen": "it was stolen", "damaged": "it's damaged", "other": "I don't need it anymore"}

INTENTS = {i.key: i for i in [
    Intent("greeting", ("hi there", "hello, good morning", "hey", "good afternoon", "hi I need some help", "hello?",
                   "hey how's it going", "morning")),
    Intent("thanks", ("thanks so much", "thank you for your help", "thanks", "great, thank you", "appreciate it",
                 "cool thanks a lot")),
    Intent("goodbye", ("that's all I needed, goodbye", "bye", "I'm done, bye now", "ok bye", "that's it, have a good one",
                  "goodbye")),
    Intent("balance_acct", ("what's my {acct} balance", "how much is in my {acct}", "I want to know how much is in my {acct}",
                       "can you tell me my {acct} balance", "check my {acct} balance please", "balance on my {acct}",
                       "what do I have in {acct}", "how much money is in my {acct} right now")),
    Intent("balance_all", ("check my balance", "how much money do I have", "what are my balances", "balances please",
                      "how much do I have in the bank", "tell me my balance")),
    Intent("statement_full", ("send me my {acct} statement for {period}", "I need a statement for my {acct} from {period}",
                         "can I get my {acct} statement covering {period}", "{acct} statement for {period} please",
                         "get me a {acct} statement for {period}", "I'd like a statement of my {acct} for {period}")),
    Intent("statement_acct", ("can I get my {acct} statement", "send me a {acct} statement", "I need my {acct} statement",
                         "{acct} statement please", "statement for my {acct}")),
    Intent("statement_none", ("get me a statement", "I need a statement", "can you send me a statement",
                         "I want my bank statement", "statement please")),
    Intent("transfer_full", ("transfer {amount} from my {from} to {to}", "move {amount} from {from} to {to}",
                        "I want to send {amount} from {from} into {to}", "can you move {amount} out of {from} into {to}",
                        "put {amount} from {from} into my {to}", "{amount} from {from} to {to} please",
                        "shift {amount} from my {from} account over to {to}", "transfer {amount} dollars from {from} to {to}")),
    Intent("transfer_amount", ("I need to transfer {amount}", "transfer {amount} please", "I want to move {amount}",
                          "can you transfer {amount} for me", "move {amount}")),
    Intent("transfer_amount_to", ("move {amount} to my {to}", "put {amount} into {to}", "transfer {amount} to {to}",
                             "send {amount} over to my {to}", "{amount} to {to} please")),
    Intent("transfer_to", ("transfer to my {to} account", "I want to put money in my {to}", "move some money to {to}",
                      "send money into my {to}", "I need to add money to {to}")),
    Intent("transfer_none", ("I want to transfer some money", "I need to move some funds", "can I do a transfer",
                        "transfer money please", "I'd like to move money between my accounts")),
    Intent("cancel_digits", ("cancel my {ctype} card ending in {digits}", "please cancel the {ctype} card that ends in {digits}",
                        "I want to cancel my {ctype} card, last four {digits}", "cancel {ctype} card {digits}",
                        "block my {ctype} card ending {digits}")),
    Intent("cancel_reason", ("I need to cancel my {ctype} card, {reason}", "cancel my {ctype} card because {reason}",
                        "{reason}, can you cancel my {ctype} card", "my {ctype} card, {reason}, please cancel it",
                        "cancel the {ctype} card {reason}")),
    Intent("cancel_none", ("cancel my card", "I need to cancel my card", "can you cancel a card for me", "I want a card cancelled",
                      "please cancel my card")),
    Intent("replace_type", ("I need a replacement {ctype} card", "can you send me a new {ctype} card", "replace my {ctype} card",
                       "I'd like a new {ctype} card please", "order me a replacement {ctype} card")),
    Intent("replace_digits", ("can you send me a new card for the one ending in {digits}", "replace my card ending in {digits}",
                         "I need to replace the card that ends in {digits}", "new card please, old one ends in {digits}",
                         "the card ending {digits} needs replacing")),
    Intent("replace_none", ("my card is damaged and I need a new one", "I need a replacement card", "can I get a new card",
                       "my card stopped working, send a new one", "I need to replace my card")),
    Intent("activate_digits", ("activate my new card ending in {digits}", "I need to activate the card ending in {digits}",
                          "please activate card {digits}", "turn on my new card, last four {digits}",
                          "can you activate the card that ends in {digits}")),
    Intent("activate_none", ("I got my new card in the mail and need to activate it", "I need to activate a card",
                        "activate my new card", "how do I activate my card", "my new card came, can you turn it on")),
    Intent("fraud_type", ("there's a fraudulent charge on my {ctype} card", "someone used my {ctype} card",
                     "I see a charge I didn't make on my {ctype} card", "report fraud on my {ctype} card",
                     "there's a weird charge on the {ctype} card")),
    Intent("fraud_amount", ("someone made a {amount} purchase on my {ctype} card that wasn't me",
                       "there's a {amount} charge on my {ctype} card I didn't make",
                       "I need to report a fraudulent charge of {amount} on my {ctype} card",
                       "my {ctype} card got charged {amount} and it wasn't me", "fraud on my {ctype} card, {amount}")),
    Intent("fraud_none", ("I see a charge I didn't make", "I need to report fraud on my card", "someone stole my card info",
                     "there's a fraudulent charge", "I want to report fraud")),
    Intent("pin_type", ("reset the PIN on my {ctype} card", "I forgot my {ctype} card PIN", "I need a new PIN for my {ctype} card",
                   "can you reset my {ctype} PIN", "change the PIN on the {ctype} card")),
    Intent("pin_digits", ("I forgot my PIN for my {ctype} card ending in {digits}", "reset the PIN for card {digits}, it's my {ctype}",
                     "new PIN for my {ctype} card ending {digits}", "reset PIN on the {ctype} card that ends in {digits}",
                     "my {ctype} card ending in {digits} needs a PIN reset")),
    Intent("pin_none", ("I need to reset my PIN", "reset my PIN please", "I forgot my PIN", "can you change my PIN",
                   "PIN reset")),
    Intent("bill_payee", ("pay my {payee} bill", "I need to pay {payee}", "can you pay the {payee} bill", "pay {payee} please",
                     "time to pay {payee}")),
    Intent("bill_amount", ("I want to pay {amount} to {payee}", "pay {payee} {amount}", "send {amount} to {payee} for the bill",
                      "pay the {payee} bill, it's {amount}", "I owe {payee} {amount}, pay it please",
                      "pay {amount} to {payee}")),
    Intent("bill_full", ("pay my {payee} bill of {amount} from {from}", "pay {amount} to {payee} out of {from}",
                    "use my {from} to pay {payee} {amount}", "pay {payee} {amount} from my {from} account",
                    "from {from}, pay {amount} to {payee}")),
    Intent("bill_none", ("I need to pay a bill", "pay a bill please", "can I pay a bill", "I want to pay something",
                    "bill payment")),
    Intent("human_dept", ("I need to talk to {dept}", "connect me to {dept}", "can I speak to {dept}",
                     "transfer me to {dept}", "put me through to {dept} please")),
    Intent("human_none", ("I want to speak to someone", "connect me to a human agent", "let me talk to a person",
                     "can I get a real person", "operator please")),
    Intent("unclear", ("what about that thing", "I'm not sure what I need", "can you help me with something",
                  "the thing from last week", "um so yeah", "what was it again", "you know the one")),
    Intent("off_topic", ("what's the weather like today", "tell me a joke", "can you book me a table for two",
                    "what time does the game start", "how do I make pancakes", "play some music")),
]}
ANSWER_WRAPPERS = Intent("answer", ("{details}", "{details} please", "it's {details}", "oh sorry, {details}",
                                    "uh {details}", "{details}, thanks", "yeah {details}", "ok {details}"))
FIELD_FRAGMENTS = {
    "amount": Intent("f_amount", ("{amount}", "{amount} dollars", "make it {amount}", "{amount} bucks", "the amount is {amount}")),
    "from_account": Intent("f_from", ("from {from}", "from my {from}", "out of {from}", "take it from {from}", "from the {from} account")),
    "to_account": Intent("f_to", ("to {to}", "into my {to}", "to the {to} account", "put it in {to}", "over to {to}")),
    "account_type": Intent("f_acct", ("for my {acct} account", "{acct}", "the {acct} one", "my {acct}", "for {acct}")),
    "card": Intent("f_card", ("it's my {ctype} card ending in {digits}", "the {ctype} one, ends in {digits}",
                              "my {ctype} card, last four {digits}", "{ctype} card {digits}", "the {ctype} card that ends {digits}")),
    "card_last_four": Intent("f_digits", ("it ends in {digits}", "the last four are {digits}", "ending in {digits}",
                                          "{digits}", "the number ends in {digits}")),
    "payee": Intent("f_payee", ("to {payee}", "it's for {payee}", "the {payee} bill", "{payee}", "pay {payee}")),
}
OFF_DOMAIN_INTENTS = {"unclear", "off_topic"}
ASKS = {"amount": "how much", "from_account": "which account it comes from", "to_account": "which account it goes to",
        "account_type": "which account", "card_type": "which card", "card_last_four": "the last four digits",
        "payee": "who you'd like to pay"}
# The keyword a clarifying question must contain for each missing field (what a reply judge checks).
ASK_FACTS = {"amount": "how much", "from_account": "from", "to_account": "to", "account_type": "account",
             "card_type": "card", "card_last_four": "last four", "payee": "pay"}


@dataclass
class Move:
    """One planned user turn."""

    intent: str
    slots: dict
    call: ToolCall
    template_id: str = ""
    text: str = ""


def _amount_text(rng: random.Random, amount: int) -> str:
    return rng.choice((str(amount), f"${amount}", f"{amount} dollars", number_words(amount), number_words(amount) + " dollars"))


def _digits_text(rng: random.Random, digits: str) -> str:
    return digits if rng.random() < 0.65 else spell_digits(digits)


def _card(env: BankingEnv, rng: random.Random, status: str = "active") -> dict:
    return rng.choice([c for c in env.view()["cards"] if c["status"] == status])


def _affordable(rng: random.Random, balance: float) -> int:
    return rng.choice([a for a in (20, 45, 50, 75, 100, 120, 150, 200, 250, 300, 350, 500, 750, 800) if a <= balance / 3] or [5])


def plan_fresh(rng: random.Random, env: BankingEnv) -> Move:
    """A new request (not continuing an unfinished one)."""
    state, c = env.view(), ToolCall
    kind = rng.choices(
        ["balance_acct", "balance_all", "statement", "transfer", "cancel", "replace", "activate", "fraud", "pin",
         "bill", "human", "unclear", "off_topic"], weights=[3, 1, 2, 4, 2, 1.5, 1, 2, 1.5, 3, 1.2, 1, 0.8])[0]
    acct = rng.choice(("checking", "savings", "credit"))
    slots = {"acct": rng.choice(ACCOUNT_WORDS[acct])}
    if kind == "balance_acct":
        return Move(kind, slots, c("check_balance", {"account_type": acct}))
    if kind in ("balance_all", "unclear", "off_topic"):
        return Move(kind, slots, c({"balance_all": "check_balance"}.get(kind, "intent_unclear"), {}))
    if kind == "statement":
        period = rng.choice(list(PERIOD_WORDS))
        slots["period"] = rng.choice(PERIOD_WORDS[period])
        variant = rng.choice(("full", "acct", "none"))
        args = {"full": {"account_type": acct, "period": period}, "acct": {"account_type": acct}, "none": {}}[variant]
        return Move(f"statement_{variant}", slots, c("get_statement", args))
    if kind in ("transfer", "bill"):
        src = rng.choice(("checking", "savings"))
        dst = "savings" if src == "checking" else "checking"
        amount = _affordable(rng, state["balances"][src])
        slots.update({"amount": _amount_text(rng, amount), "from": src, "to": dst, "payee": rng.choice(PAYEES)})
        if kind == "transfer":
            variant = rng.choice(("full", "full", "amount", "amount_to", "to", "none"))
            keys = {"full": ("amount", "from_account", "to_account"), "amount": ("amount",),
                    "amount_to": ("amount", "to_account"), "to": ("to_account",), "none": ()}[variant]
            full = {"amount": amount, "from_account": src, "to_account": dst}
            return Move(f"transfer_{variant}", slots, c("transfer_money", {k: full[k] for k in keys}))
        variant = rng.choice(("payee", "amount", "amount", "full", "none"))
        keys = {"payee": ("payee",), "amount": ("payee", "amount"), "full": ("payee", "amount", "from_account"), "none": ()}[variant]
        full = {"payee": slots["payee"], "amount": amount, "from_account": src}
        return Move(f"bill_{variant}", slots, c("pay_bill", {k: full[k] for k in keys}))
    if kind == "human":
        dept = rng.choice(list(DEPT_WORDS))
        if rng.random() < 0.35:
            return Move("human_none", slots, c("speak_to_human", {}))
        slots["dept"] = rng.choice(DEPT_WORDS[dept])
        return Move("human_dept", slots, c("speak_to_human", {"department": dept}))
    cards = env.view()["cards"]
    if kind == "activate" and not any(c["status"] == "inactive" for c in cards):
        kind = "pin"
    if kind == "cancel" and sum(c["status"] == "active" for c in cards) < 2:
        kind = "fraud"
    card = _card(env, rng, "inactive" if kind == "activate" else "active")
    slots.update({"ctype": card["card_type"], "digits": _digits_text(rng, card["last_four"])})
    if kind == "activate":
        if card["status"] != "inactive" or rng.random() < 0.4:
            return Move("activate_none", slots, c("activate_card", {}))
        return Move("activate_digits", slots, c("activate_card", {"card_last_four": card["last_four"]}))
    variant = rng.choice({"cancel": ("digits", "reason", "none"), "replace": ("type", "digits", "none"),
                          "fraud": ("type", "amount", "none"), "pin": ("type", "digits", "none")}[kind])
    tool = {"cancel": "cancel_card", "replace": "replace_card", "fraud": "report_fraud", "pin": "reset_pin"}[kind]
    args: dict = {}
    if variant in ("digits", "type", "reason", "amount") and not (kind == "replace" and variant == "digits"):
        args["card_type"] = card["card_type"]
    if variant == "digits":
        args["card_last_four"] = card["last_four"]
    if variant == "reason":
        reason = rng.choice(list(REASON_WORDS))
        slots["reason"] = REASON_WORDS[reason]
        args["reason"] = reason
    if variant == "amount":
        amount = rng.choice((35, 60, 89, 120, 250, 350, 500, 999))
        slots["amount"] = _amount_text(rng, amount)
        args["transaction_amount"] = amount
    return Move(f"{kind}_{variant}", slots, c(tool, args))


def plan_answer(rng: random.Random, env: BankingEnv, pending: ToolCall, missing: list[str], split: str) -> Move:
    """The user fills in some or all of what the assistant asked for; the call carries everything so far."""
    args = dict(pending.arguments)
    slots: dict = {}
    if "card_type" in missing:  # cards: the user names type and digits together
        card = _card(env, rng, "active")
        fields = ["card"]
        args.update(card_type=card["card_type"], card_last_four=card["last_four"])
        slots.update(ctype=card["card_type"], digits=_digits_text(rng, card["last_four"]))
    elif missing == ["card_last_four"]:
        card = _card(env, rng, "inactive") if pending.name == "activate_card" else _card(env, rng)
        fields = ["card_last_four"]
        args["card_last_four"] = card["last_four"]
        slots["digits"] = _digits_text(rng, card["last_four"])
    else:
        fields = missing if len(missing) == 1 or rng.random() < 0.7 else missing[:1]
        balances = env.view()["balances"]
        need = args.get("amount", 0)
        sources = [a for a in ("checking", "savings") if a != args.get("to_account") and balances[a] >= need]
        src = args.get("from_account") or (sources or ["savings"])[0]
        dst = "savings" if src == "checking" else "checking"
        amount = _affordable(rng, balances[src if pending.name == "transfer_money" else "checking"])
        values = {"amount": amount, "from_account": src, "to_account": dst, "payee": rng.choice(PAYEES),
                  "account_type": rng.choice(("checking", "savings", "credit"))}
        for f in fields:
            args[f] = values[f]
        slots.update(amount=_amount_text(rng, amount), payee=values["payee"], acct=values["account_type"],
                     **{"from": src, "to": dst})
    wrapper_id, wrapper = ANSWER_WRAPPERS.pick(rng, split)
    parts, ids = [], [wrapper_id]
    for f in fields:
        frag_id, frag = FIELD_FRAGMENTS[f].pick(rng, split)
        parts.append(frag.format(**slots))
        ids.append(frag_id)
    text = wrapper.format(details=" and ".join(parts))
    return Move("answer", slots, ToolCall(pending.name, args), template_id="+".join(ids), text=text)


def reply_for(call: ToolCall, response: str) -> Step:
    """The assistant's closing words for a turn, with the facts they state."""
    d = json.loads(response)
    status = d.get("status")
    if status == "needs_info":
        asks = [ASKS[m] for m in d["missing"]]
        if "card_type" in d["missing"]:
            asks = ["which card (credit or debit)", "its last four digits"]
        facts = list(dict.fromkeys(ASK_FACTS[m] for m in d["missing"]))
        return Step(reply=f"Sure, I can help with that. Can you tell me {' and '.join(asks)}?", facts=facts)
    if call.name == "check_balance":
        if "balances" in d:
            b = d["balances"]
            return Step(reply=f"You have ${b['checking']:.2f} in checking and ${b['savings']:.2f} in savings, and your "
                              f"credit card balance is ${b['credit']:.2f}.",
                        facts=[f"{b['checking']:.2f}", f"{b['savings']:.2f}", f"{b['credit']:.2f}"])
        return Step(reply=f"Your {d['account_type']} balance is ${d['balance']:.2f}.", facts=[f"{d['balance']:.2f}"])
    if call.name == "get_statement":
        period = d["period"].replace("_3_", " three ").replace("_", " ")
        return Step(reply=f"I've sent your {d['account_type']} statement for the {period}. It should reach you shortly.",
                    facts=[d["account_type"], period])
    if call.name == "transfer_money":
        return Step(reply=f"Done. I moved ${d['amount']} from {d['from_account']} to {d['to_account']}. Your "
                          f"{d['from_account']} balance is now ${d['from_balance']:.2f}.",
                    facts=[str(d["amount"]), d["from_account"], d["to_account"]])
    if call.name == "pay_bill":
        return Step(reply=f"I paid ${d['amount']} to {d['payee']} from your {d['from_account']} account. The new balance "
                          f"is ${d['balance']:.2f}.", facts=[str(d["amount"]), str(d["payee"]).lower()])
    card = f"{d.get('card_type')} card ending in {d.get('last_four')}"
    fixed = {
        "cancel_card": (f"Your {card} is cancelled, so it can't be used anymore.", [d.get("last_four"), "cancel"]),
        "replace_card": (f"A replacement for your {card} is on its way and should arrive in {d.get('arrives_in_days')} days.",
                         [d.get("last_four"), "5"]),
        "activate_card": (f"Your {card} is active now. You can start using it right away.", [d.get("last_four"), "active"]),
        "report_fraud": (f"I've opened fraud case {d.get('case_number')} for your {card}. We'll block the charge while we "
                         f"look into it.", [d.get("case_number"), d.get("last_four")]),
        "reset_pin": (f"I've sent a PIN reset code for your {card}. Follow the text message to choose a new PIN.",
                      [d.get("last_four"), "PIN"]),
        "speak_to_human": (f"I'm transferring you to our {d.get('department')} team now. The wait is about "
                           f"{d.get('wait_minutes')} minutes.", [str(d.get("department")), "4"]),
        "intent_unclear": ("Sorry, I didn't quite get that. I can help with balances, statements, transfers, cards and "
                           "bills. What would you like to do?", ["balances", "transfers"]),
        "greeting": ("Hello! How can I help you with your banking today?", ["help"]),
        "thank_you": ("You're welcome! Is there anything else I can do for you?", ["welcome"]),
        "goodbye": ("Thanks for calling. Have a great day, goodbye!", ["goodbye"]),
    }
    text, facts = fixed[call.name]
    return Step(reply=text, facts=[f for f in facts if f])


def generate_episode(rng: random.Random, split: str, episode_id: str, env_seed: int) -> Episode:
    """One seeded banking call of 1-5 user turns."""
    env = BankingEnv(seed=env_seed)
    n_turns = rng.choices(range(1, 6), weights=(0.3, 0.3, 0.2, 0.12, 0.08))[0]
    turns: list[Turn] = []
    pending: tuple[ToolCall, list[str]] | None = None
    for index in range(n_turns):
        last = index == n_turns - 1
        if pending and rng.random() < 0.85:
            move = plan_answer(rng, env, pending[0], pending[1], split)
        elif index == 0 and rng.random() < 0.2:
            move = Move("greeting", {}, ToolCall("greeting", {}))
        elif last and index > 0 and rng.random() < 0.35:
            intent = rng.choice(("thanks", "goodbye"))
            move = Move(intent, {}, ToolCall({"thanks": "thank_you", "goodbye": "goodbye"}[intent], {}))
        else:
            move = plan_fresh(rng, env)
        if not move.text:
            move.template_id, template = INTENTS[move.intent].pick(rng, split)
            move.text = template.format(**move.slots)
        keep = frozenset(w.lower() for w in str(move.slots.get("payee", "")).split())
        user = asr_noise(move.text, rng, keep=keep) if rng.random() < 0.6 else casualize(move.text, rng, 0.03, keep=keep)
        step = call_step(env, [move.call])
        data = json.loads(step.responses[0])
        pending = (move.call, data["missing"]) if data.get("status") == "needs_info" else None
        turns.append(Turn(user=user, template_id=f"banking.{move.template_id}", steps=[step, reply_for(move.call, step.responses[0])],
                          off_domain=move.intent in OFF_DOMAIN_INTENTS))
        if env.done:
            break
    return Episode(env="banking", episode_id=episode_id, split=split, env_seed=env_seed, system=BankingEnv.system_prompt,
                   tools=BankingEnv.tools, turns=turns, final_state=env.view())
