"""Voice-banking env over one simulated customer (`python -m rlkit.envs.show banking --show 3`).

Tool names, parameter names, types and enums match ../shared/data/banking/job_description.json so
that data set loads and scores against this env; the descriptions are our own. A call missing
information it needs answers `needs_info` with the missing fields (the assistant then asks the
user), mirroring the real set's partial calls followed by the user filling in the rest.
"""

from __future__ import annotations

import math
import random

from rlkit.envs.base import ToolEnv, ToolError, ok_response

ACCOUNTS = ("checking", "savings", "credit")
OWN_ACCOUNTS = ("checking", "savings")
CARD_TYPES = ("credit", "debit")
PERIODS = ("last_month", "last_3_months", "last_year")
CANCEL_REASONS = ("lost", "stolen", "damaged", "other")
DEPARTMENTS = ("general", "fraud", "loans", "technical")

SYSTEM_PROMPT = (
    "You are the voice assistant of a retail bank. User messages come from speech recognition and may "
    "contain misheard words, fillers and homophones. Call the tool that matches the request, passing only "
    "the details the user actually gave, and use earlier turns to fill in details from follow-ups. If the "
    "request cannot be understood, call intent_unclear. After a tool result, answer the user briefly."
)


def _tool(name: str, description: str, **properties: dict) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": [], "additionalProperties": False},
        },
    }


def _choice(values: tuple[str, ...], description: str) -> dict:
    return {"type": "string", "enum": list(values), "description": description}


def _text(description: str) -> dict:
    return {"type": "string", "description": description}


def _money(description: str) -> dict:
    return {"type": "number", "description": description}


TOOLS = [
    _tool("check_balance", "Tell the customer how much is in an account (all accounts if none named).",
          account_type=_choice(ACCOUNTS, "Account to look up.")),
    _tool("get_statement", "Send the customer a statement for an account.",
          account_type=_choice(ACCOUNTS, "Account the statement covers."),
          period=_choice(PERIODS, "How far back the statement goes.")),
    _tool("transfer_money", "Move money between the customer's checking and savings accounts.",
          amount=_money("Dollars to move."), from_account=_choice(OWN_ACCOUNTS, "Source account."),
          to_account=_choice(OWN_ACCOUNTS, "Destination account.")),
    _tool("cancel_card", "Block a card permanently.",
          card_type=_choice(CARD_TYPES, "Kind of card."), card_last_four=_text("Final four digits printed on the card."),
          reason=_choice(CANCEL_REASONS, "Why the card is being cancelled.")),
    _tool("replace_card", "Order a new card to replace an existing one.",
          card_type=_choice(CARD_TYPES, "Kind of card."), card_last_four=_text("Final four digits of the card.")),
    _tool("activate_card", "Switch on a card that arrived by post.",
          card_last_four=_text("Final four digits of the new card.")),
    _tool("report_fraud", "Flag a charge the customer did not make.",
          card_type=_choice(CARD_TYPES, "Card the charge was made on."),
          card_last_four=_text("Final four digits of that card."), transaction_amount=_money("Dollar amount of the charge.")),
    _tool("reset_pin", "Start a PIN reset for a card.",
          card_type=_choice(CARD_TYPES, "Kind of card."), card_last_four=_text("Final four digits of the card.")),
    _tool("pay_bill", "Pay a company or person from one of the customer's accounts.",
          payee=_text("Who gets paid, as the customer said it."), amount=_money("Dollars to pay."),
          from_account=_choice(OWN_ACCOUNTS, "Account the money comes from.")),
    _tool("speak_to_human", "Hand the call over to a staff member.",
          department=_choice(DEPARTMENTS, "Team to route the call to.")),
    _tool("intent_unclear", "Use when you cannot tell what the customer wants."),
    _tool("greeting", "The customer said hello."),
    _tool("goodbye", "The customer is ending the call."),
    _tool("thank_you", "The customer said thanks."),
]


def needs_info(*missing: str) -> str:
    """The response to a call that lacks details: the assistant should ask for them."""
    return ok_response(status="needs_info", missing=list(missing))


class BankingEnv(ToolEnv):
    """One customer with checking, savings, a credit line, cards and recent activity."""

    name = "banking"
    tools = TOOLS
    system_prompt = SYSTEM_PROMPT

    def initial_state(self, rng: random.Random) -> dict:
        """Seeded balances and three cards (one new card still inactive)."""
        digits = rng.sample(range(1000, 10000), 3)
        return {
            "balances": {"checking": round(rng.uniform(900, 6000), 2), "savings": round(rng.uniform(2000, 20000), 2),
                         "credit": round(rng.uniform(0, 2500), 2)},
            "cards": [
                {"card_type": "debit", "last_four": str(digits[0]), "status": "active", "pin_reset": False},
                {"card_type": "credit", "last_four": str(digits[1]), "status": "active", "pin_reset": False},
                {"card_type": rng.choice(CARD_TYPES), "last_four": str(digits[2]), "status": "inactive", "pin_reset": False},
            ],
            "statements": [], "transfers": [], "payments": [], "fraud_reports": [], "replacements": [],
            "handoffs": [], "events": [],
        }

    def find_card(self, card_type: str | None, card_last_four: str | None, status: str = "active") -> dict:
        """The card the customer means (digits win over type); ToolError when there is none."""
        cards = [c for c in self._world["cards"] if c["status"] == status]
        if card_last_four is not None:
            cards = [c for c in cards if c["last_four"] == str(card_last_four).strip()]
            if not cards:
                raise ToolError(f"no {status} card ending in {card_last_four}")
        if card_type is not None:
            cards = [c for c in cards if c["card_type"] == card_type]
            if not cards:
                raise ToolError(f"no {status} {card_type} card on file")
        return cards[0]

    def tool_check_balance(self, account_type: str | None = None) -> str:
        """Balances of one or all accounts."""
        balances = self._world["balances"]
        if account_type is None:
            return ok_response(balances=dict(balances))
        _check(account_type, ACCOUNTS)
        return ok_response(account_type=account_type, balance=balances[account_type])

    def tool_get_statement(self, account_type: str | None = None, period: str | None = None) -> str:
        """Queue a statement (last month unless a period is given)."""
        if account_type is None:
            return needs_info("account_type")
        _check(account_type, ACCOUNTS)
        period = period or "last_month"
        _check(period, PERIODS)
        self._world["statements"].append({"account_type": account_type, "period": period})
        return ok_response(status="sent", account_type=account_type, period=period)

    def tool_transfer_money(self, amount: float | None = None, from_account: str | None = None,
                            to_account: str | None = None) -> str:
        """Move money once amount and both accounts are known."""
        missing = [k for k, v in (("amount", amount), ("from_account", from_account), ("to_account", to_account)) if v is None]
        if missing:
            return needs_info(*missing)
        _check(from_account, OWN_ACCOUNTS)
        _check(to_account, OWN_ACCOUNTS)
        if from_account == to_account:
            raise ToolError("from_account and to_account must differ")
        balances = self._world["balances"]
        _check_amount(amount, balances[from_account])
        balances[from_account] = round(balances[from_account] - amount, 2)
        balances[to_account] = round(balances[to_account] + amount, 2)
        self._world["transfers"].append({"amount": amount, "from_account": from_account, "to_account": to_account})
        return ok_response(status="done", amount=amount, from_account=from_account, to_account=to_account,
                           from_balance=balances[from_account], to_balance=balances[to_account])

    def tool_cancel_card(self, card_type: str | None = None, card_last_four: str | None = None,
                         reason: str | None = None) -> str:
        """Cancel the named card."""
        if card_type is None and card_last_four is None:
            return needs_info("card_type", "card_last_four")
        if reason is not None:
            _check(reason, CANCEL_REASONS)
        card = self.find_card(card_type, card_last_four)
        card["status"] = "cancelled"
        card["reason"] = reason or "other"
        return ok_response(status="cancelled", card_type=card["card_type"], last_four=card["last_four"])

    def tool_replace_card(self, card_type: str | None = None, card_last_four: str | None = None) -> str:
        """Order a replacement for the named card."""
        if card_type is None and card_last_four is None:
            return needs_info("card_type", "card_last_four")
        card = self.find_card(card_type, card_last_four)
        self._world["replacements"].append(card["last_four"])
        return ok_response(status="ordered", card_type=card["card_type"], last_four=card["last_four"], arrives_in_days=5)

    def tool_activate_card(self, card_last_four: str | None = None) -> str:
        """Activate the inactive card with these digits."""
        if card_last_four is None:
            return needs_info("card_last_four")
        card = self.find_card(None, card_last_four, status="inactive")
        card["status"] = "active"
        return ok_response(status="activated", card_type=card["card_type"], last_four=card["last_four"])

    def tool_report_fraud(self, card_type: str | None = None, card_last_four: str | None = None,
                          transaction_amount: float | None = None) -> str:
        """Open a fraud case on the named card."""
        if card_type is None and card_last_four is None:
            return needs_info("card_type", "card_last_four")
        if transaction_amount is not None:
            _check_amount(transaction_amount, None)
        card = self.find_card(card_type, card_last_four)
        self._world["fraud_reports"].append({"last_four": card["last_four"], "amount": transaction_amount})
        return ok_response(status="case_opened", card_type=card["card_type"], last_four=card["last_four"],
                           case_number=f"F{card['last_four']}{len(self._world['fraud_reports'])}")

    def tool_reset_pin(self, card_type: str | None = None, card_last_four: str | None = None) -> str:
        """Send a PIN-reset code for the named card."""
        if card_type is None and card_last_four is None:
            return needs_info("card_type", "card_last_four")
        card = self.find_card(card_type, card_last_four)
        card["pin_reset"] = True
        return ok_response(status="reset_code_sent", card_type=card["card_type"], last_four=card["last_four"])

    def tool_pay_bill(self, payee: str | None = None, amount: float | None = None,
                      from_account: str | None = None) -> str:
        """Pay a bill from checking unless another account is named."""
        missing = [k for k, v in (("payee", payee), ("amount", amount)) if v is None]
        if missing:
            return needs_info(*missing)
        from_account = from_account or "checking"
        _check(from_account, OWN_ACCOUNTS)
        if not str(payee).strip():
            raise ToolError("payee must not be empty")
        balances = self._world["balances"]
        _check_amount(amount, balances[from_account])
        balances[from_account] = round(balances[from_account] - amount, 2)
        self._world["payments"].append({"payee": payee.strip().lower(), "amount": amount, "from_account": from_account})
        return ok_response(status="paid", payee=payee, amount=amount, from_account=from_account,
                           balance=balances[from_account])

    def tool_speak_to_human(self, department: str | None = None) -> str:
        """Queue a hand-off to staff."""
        department = department or "general"
        _check(department, DEPARTMENTS)
        self._world["handoffs"].append(department)
        return ok_response(status="transferring", department=department, wait_minutes=4)

    def tool_intent_unclear(self) -> str:
        """Note a request that could not be understood."""
        self._world["events"].append("unclear")
        return ok_response(status="not_understood")

    def tool_greeting(self) -> str:
        """Note the greeting."""
        self._world["events"].append("greeting")
        return ok_response(status="greeted")

    def tool_thank_you(self) -> str:
        """Note the thanks."""
        self._world["events"].append("thanks")
        return ok_response(status="acknowledged")

    def tool_goodbye(self) -> str:
        """End the call."""
        self._world["events"].append("goodbye")
        self.done = True
        return ok_response(status="call_ended")


def _check(value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ToolError(f"{value!r} is not one of {', '.join(allowed)}")


def _check_amount(amount: object, available: float | None) -> None:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount <= 0:
        raise ToolError(f"amount must be a positive number, got {amount!r}")
    if available is not None and amount > available:
        raise ToolError(f"insufficient funds: {amount} requested, {available} available")
