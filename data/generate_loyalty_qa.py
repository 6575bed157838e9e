"""Generate the MyElite loyalty-program Q&A datasets (train and validation JSONL).

Every answer is taken from ``docs/myelite-program.md``, the program's single source of truth.
Each fact has one short answer and several differently worded questions. A seeded random
draw holds one question of most facts out for validation, so the validation prompts are
paraphrases never seen in training while their answers (and key facts) are; 3-4 of the
other phrasings of each fact go to training.

Output lines are ``{"prompt": ..., "response": ..., "key_fact": ...}``; ``key_fact`` is a
short exact substring of ``response`` that evaluation looks for in the model's answer.

Usage: ``python data/generate_loyalty_qa.py [OUT_DIR]`` (default: this folder).
Deterministic: no network, no clock, a fixed seed; same input, byte-identical files.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

SEED = 20250101
VAL_FACTS = 48
# Training phrasings kept per fact (seeded pick): ~220 lines, small enough for the tiny CPU model.
TRAIN_PER_FACT = 4
TRAIN_PER_HELD_FACT = 3
TRAIN_FILE = "loyalty_qa_train.jsonl"
VAL_FILE = "loyalty_qa_val.jsonl"


@dataclass(frozen=True)
class Fact:
    """One policy fact: a short answer, the key fact inside it, and its question phrasings."""

    fact_id: str
    response: str
    key_fact: str
    questions: tuple[str, ...]


# How each tier is named in questions and answers ("Member members" reads badly).
_WHO = {
    "Member": "Member-tier members",
    "Silver": "Silver members",
    "Gold": "Gold members",
    "Platinum": "Platinum members",
}
_AS_A = {
    "Member": "a Member-tier customer",
    "Silver": "a Silver member",
    "Gold": "a Gold member",
    "Platinum": "a Platinum member",
}


def _q(templates: list[str], tier: str) -> tuple[str, ...]:
    return tuple(t.format(T=tier, WHO=_WHO[tier], AS_A=_AS_A[tier]) for t in templates)


def _tier_facts() -> list[Fact]:
    facts: list[Fact] = []

    threshold_q = [
        "How much do I need to spend to reach {T}?",
        "What is the {T} tier threshold?",
        "What annual spend gets me {T} status?",
        "How do I qualify for the {T} tier?",
        "What is the qualifying spend for {T}?",
    ]
    for tier, amount in (("Silver", "$500"), ("Gold", "$1,500"), ("Platinum", "$5,000")):
        facts.append(
            Fact(
                f"threshold_{tier.lower()}",
                f"You reach {tier} after {amount} in qualifying spend in a calendar year.",
                amount,
                _q(threshold_q, tier),
            )
        )

    earn_q = [
        "How many points do {WHO} earn per dollar?",
        "What is the {T} tier earn rate?",
        "As {AS_A}, how many points do I get for each $1 I spend?",
        "How many points per dollar at the {T} tier?",
        "At what rate does the {T} tier earn points?",
    ]
    for tier, rate in (
        ("Member", "1 point per dollar"),
        ("Silver", "1.5 points per dollar"),
        ("Gold", "2 points per dollar"),
        ("Platinum", "3 points per dollar"),
    ):
        facts.append(
            Fact(
                f"earn_{tier.lower()}",
                f"{_WHO[tier]} earn {rate} spent.",
                rate,
                _q(earn_q, tier),
            )
        )

    cashback_q = [
        "What cashback do {WHO} get?",
        "What is the cashback rate for the {T} tier?",
        "As {AS_A}, how much cashback do I earn?",
        "How much cash back does {T} give on purchases?",
        "What percentage back do {WHO} earn?",
    ]
    facts.append(
        Fact(
            "cashback_member",
            "Member-tier members do not earn cashback; cashback starts at Silver.",
            "do not earn cashback",
            _q(cashback_q, "Member"),
        )
    )
    for tier, pct in (("Silver", "1%"), ("Gold", "2%"), ("Platinum", "5%")):
        facts.append(
            Fact(
                f"cashback_{tier.lower()}",
                f"{tier} members get {pct} cashback on qualifying purchases.",
                f"{pct} cashback",
                _q(cashback_q, tier),
            )
        )

    birthday_q = [
        "What birthday reward do {WHO} get?",
        "How many birthday points does the {T} tier give?",
        "As {AS_A}, what do I receive on my birthday?",
        "What is the {T} birthday bonus?",
        "Do {WHO} get anything in their birthday month?",
    ]
    for tier, pts in (
        ("Member", "200"),
        ("Silver", "500"),
        ("Gold", "1,000"),
        ("Platinum", "2,000"),
    ):
        facts.append(
            Fact(
                f"birthday_{tier.lower()}",
                f"{_WHO[tier]} get {pts} bonus points in their birthday month.",
                f"{pts} bonus points",
                _q(birthday_q, tier),
            )
        )

    shipping_q = [
        "When do {WHO} get free shipping?",
        "What is the free shipping threshold for the {T} tier?",
        "As {AS_A}, how much must I order for free shipping?",
        "Is shipping free for {WHO}?",
        "What order amount qualifies {T} for free standard shipping?",
    ]
    for tier, amount in (("Member", "$50"), ("Silver", "$35"), ("Gold", "$25")):
        facts.append(
            Fact(
                f"shipping_{tier.lower()}",
                f"{_WHO[tier]} get free standard shipping on orders of {amount} or more.",
                f"{amount} or more",
                _q(shipping_q, tier),
            )
        )
    facts.append(
        Fact(
            "shipping_platinum",
            "Platinum members get free 2-day shipping on all orders.",
            "free 2-day shipping on all orders",
            _q(shipping_q, "Platinum"),
        )
    )

    returns_q = [
        "What is the return window for {WHO}?",
        "How long do {WHO} have to return an item?",
        "As {AS_A}, how many days do I have to make a return?",
        "How many days is the {T} returns window?",
        "What is the return policy for the {T} tier?",
    ]
    for tier, days in (
        ("Member", "30 days"),
        ("Silver", "45 days"),
        ("Gold", "60 days"),
        ("Platinum", "90 days"),
    ):
        facts.append(
            Fact(
                f"returns_{tier.lower()}",
                f"{_WHO[tier]} can return items within {days} of delivery.",
                days,
                _q(returns_q, tier),
            )
        )

    early_q = [
        "Do {WHO} get early access to sales?",
        "How early can {WHO} shop sales?",
        "As {AS_A}, when can I start shopping a sale?",
        "What early sale access comes with {T}?",
    ]
    for tier, hours in (("Gold", "24 hours"), ("Platinum", "48 hours")):
        facts.append(
            Fact(
                f"early_access_{tier.lower()}",
                f"{tier} members get early access to sales {hours} before everyone else.",
                hours,
                _q(early_q, tier),
            )
        )
    return facts


_GENERAL: list[tuple[str, str, str, list[str]]] = [
    (
        "tiers",
        "MyElite has four tiers: Member, Silver, Gold and Platinum.",
        "Member, Silver, Gold and Platinum",
        [
            "What are the MyElite tiers?",
            "How many tiers does MyElite have?",
            "List the MyElite membership levels.",
            "Which loyalty tiers does MyRetail offer?",
            "What levels are there in the MyElite program?",
        ],
    ),
    (
        "join_cost",
        "Joining MyElite is free and there is no annual fee.",
        "is free",
        [
            "Does it cost anything to join MyElite?",
            "Is there a fee for MyElite membership?",
            "How much does MyElite cost?",
            "Do I have to pay to become a MyElite member?",
            "What is the annual fee for MyElite?",
        ],
    ),
    (
        "join_age",
        "You must be 18 or older to join MyElite.",
        "18 or older",
        [
            "How old do I have to be to join MyElite?",
            "What is the minimum age for MyElite?",
            "Can a 16-year-old join MyElite?",
            "Is there an age requirement for MyElite?",
            "Who is old enough to sign up for MyElite?",
        ],
    ),
    (
        "welcome_bonus",
        "New members receive 250 bonus points when they join MyElite.",
        "250 bonus points",
        [
            "Is there a welcome bonus for joining MyElite?",
            "How many points do I get for signing up?",
            "Do new members get bonus points?",
            "What is the MyElite sign-up bonus?",
            "What do I get for joining MyElite?",
        ],
    ),
    (
        "start_tier",
        "Every new member starts at the Member tier.",
        "Member tier",
        [
            "What tier do I start at?",
            "Which tier do new members get?",
            "What level am I when I first sign up?",
            "Where does a new MyElite account start?",
            "What is the entry tier of MyElite?",
        ],
    ),
    (
        "qualifying_spend",
        "Qualifying spend is merchandise purchases minus returns, excluding taxes, "
        "shipping fees and gift cards.",
        "excluding taxes, shipping fees and gift cards",
        [
            "What counts as qualifying spend?",
            "Do taxes count toward my tier?",
            "Does shipping count toward my tier spend?",
            "Do gift card purchases count toward my MyElite tier?",
            "How is qualifying spend calculated?",
        ],
    ),
    (
        "spend_period",
        "Qualifying spend is counted per calendar year, from January 1 to December 31.",
        "January 1 to December 31",
        [
            "Over what period is tier spend counted?",
            "When does the qualifying year start and end?",
            "Is tier spend measured over a rolling 12 months?",
            "Does my qualifying spend reset each year?",
            "What time frame counts for tier qualification?",
        ],
    ),
    (
        "upgrade_timing",
        "Upgrades happen automatically within 48 hours of reaching a tier threshold.",
        "within 48 hours",
        [
            "How soon am I upgraded after hitting a threshold?",
            "When does my new tier start after I qualify?",
            "Do I have to wait until next year to be upgraded?",
            "Is the tier upgrade automatic?",
            "How long does a tier upgrade take?",
        ],
    ),
    (
        "tier_held",
        "Once earned, a tier is kept for the rest of that year and the whole following "
        "calendar year.",
        "the whole following calendar year",
        [
            "How long do I keep my tier?",
            "How long does Gold status last once I earn it?",
            "If I reach Silver in March, when does it end?",
            "How long is a MyElite tier valid?",
            "For how long is my status guaranteed?",
        ],
    ),
    (
        "review_period",
        "Tiers are reviewed once a year in January, based on the previous calendar year's "
        "qualifying spend.",
        "once a year in January",
        [
            "When are MyElite tiers reviewed?",
            "How often does MyElite re-evaluate my tier?",
            "When is the annual tier review?",
            "What is the tier review period?",
            "When will my tier be recalculated?",
        ],
    ),
    (
        "downgrade",
        "At the annual review a tier can drop at most one tier.",
        "at most one tier",
        [
            "Can I be downgraded?",
            "If I spend less, will I lose my tier?",
            "How far can my tier drop at the review?",
            "Can I fall from Platinum straight to Member?",
            "What happens if I don't meet my tier's spend?",
        ],
    ),
    (
        "earn_exclusions",
        "Points are not earned on taxes, shipping fees or gift card purchases.",
        "not earned on taxes",
        [
            "Do I earn points on shipping fees?",
            "Can I earn points when buying gift cards?",
            "Are points earned on sales tax?",
            "Which purchases don't earn points?",
            "What charges are excluded from earning points?",
        ],
    ),
    (
        "points_posting",
        "Points appear in your account within 7 days after your order ships.",
        "within 7 days",
        [
            "When will my points show up?",
            "How long until points post to my account?",
            "I made a purchase, why don't I see my points yet?",
            "When are points credited after an order?",
            "How long do points take to appear?",
        ],
    ),
    (
        "point_value",
        "100 points are worth $1 in MyRetail rewards.",
        "100 points are worth $1",
        [
            "How much is a MyElite point worth?",
            "What is the value of MyElite points?",
            "How many points equal one dollar?",
            "What are 100 points worth?",
            "How do points convert to dollars?",
        ],
    ),
    (
        "redeem_blocks",
        "Points are redeemed in blocks of 500 points, each worth $5 off.",
        "blocks of 500 points",
        [
            "What is the minimum number of points I can redeem?",
            "In what increments can I use my points?",
            "Can I redeem just 300 points?",
            "How many points do I need before I can redeem?",
            "What is the smallest points redemption?",
        ],
    ),
    (
        "redeem_where",
        "Redeem points at checkout on the MyRetail website or app.",
        "at checkout",
        [
            "How do I redeem my points?",
            "Where can I use my MyElite points?",
            "How do I spend my points?",
            "Where do I apply points to an order?",
            "How can I use my reward points on a purchase?",
        ],
    ),
    (
        "points_cash",
        "Points have no cash value and cannot be transferred or exchanged for cash.",
        "no cash value",
        [
            "Can I cash out my points?",
            "Can I transfer points to a friend?",
            "Can points be exchanged for money?",
            "Can I give my points to someone else?",
            "Are MyElite points convertible to cash?",
        ],
    ),
    (
        "expiry",
        "Points expire 12 months after the month in which they were earned.",
        "12 months",
        [
            "Do my points expire?",
            "When do MyElite points expire?",
            "How long are points valid?",
            "How long can I keep unused points?",
            "What is the points expiration policy?",
        ],
    ),
    (
        "expiry_platinum",
        "Platinum members' points never expire while they remain Platinum.",
        "never expire",
        [
            "Do Platinum points expire?",
            "Is there point expiry for Platinum members?",
            "As a Platinum member, will my points ever expire?",
            "Do points expire at the top tier?",
            "How long do Platinum members keep their points?",
        ],
    ),
    (
        "expiry_notice",
        "We email you 30 days before any points expire.",
        "30 days before",
        [
            "Will I be warned before my points expire?",
            "Do you send a reminder before points expire?",
            "How much notice do I get before points expire?",
            "Is there an expiry notification for points?",
            "When am I told about expiring points?",
        ],
    ),
    (
        "cashback_stacking",
        "Cashback is paid in addition to the points you earn.",
        "in addition to",
        [
            "Do I get cashback and points on the same purchase?",
            "Is cashback paid instead of points?",
            "Can I earn both points and cashback?",
            "Does cashback replace points?",
            "Do cashback and points stack?",
        ],
    ),
    (
        "cashback_cap_month",
        "The cashback cap is $50 per calendar month.",
        "$50 per calendar month",
        [
            "Is there a monthly cashback limit?",
            "What is the monthly cashback cap?",
            "How much cashback can I earn in one month?",
            "What is the most cashback I can get per month?",
            "Is monthly cashback capped?",
        ],
    ),
    (
        "cashback_cap_year",
        "Cashback is limited to $500 per calendar year.",
        "$500 per calendar year",
        [
            "Is there an annual cashback cap?",
            "What is the yearly cashback limit?",
            "How much cashback can I earn in a year?",
            "What is the maximum cashback per year?",
            "Is cashback capped annually?",
        ],
    ),
    (
        "cashback_payout",
        "Cashback is credited to your MyRetail Wallet on the 15th of the following month.",
        "15th of the following month",
        [
            "When is cashback paid?",
            "How do I receive my cashback?",
            "Where does my cashback go?",
            "When will I get cashback for last month's purchases?",
            "How is cashback paid out?",
        ],
    ),
    (
        "birthday_setup",
        "Add your birthday in your profile at least 30 days before your birthday month.",
        "at least 30 days before",
        [
            "How do I get my birthday reward?",
            "Do I need to register my birthday?",
            "Why didn't I get a birthday reward?",
            "When must I add my birthday to receive the bonus?",
            "How do I claim birthday points?",
        ],
    ),
    (
        "free_returns",
        "Return shipping is free for Gold and Platinum members.",
        "Gold and Platinum",
        [
            "Is return shipping free?",
            "Who gets free return shipping?",
            "Do I pay for return shipping?",
            "Which tiers get free returns?",
            "Are returns free to send back?",
        ],
    ),
    (
        "price_match",
        "MyRetail matches a lower price within 14 days of purchase for all MyElite members.",
        "14 days",
        [
            "Does MyRetail offer price matching?",
            "What is the price-match policy?",
            "The price dropped after I bought, can I get the difference?",
            "How long after purchase can I request a price match?",
            "I found it cheaper elsewhere, will you match it?",
        ],
    ),
    (
        "platinum_support",
        "Platinum members get priority phone support with a dedicated concierge team.",
        "dedicated concierge",
        [
            "Do Platinum members get special customer service?",
            "Is there a concierge for Platinum?",
            "What support perks come with Platinum?",
            "Do Platinum members get priority support?",
        ],
    ),
    (
        "status_check",
        "Check your tier and points in the MyRetail app, at myretail.com/myelite, or by "
        "calling 1-800-693-5483.",
        "myretail.com/myelite",
        [
            "How can I check my MyElite status?",
            "Where can I see my points balance?",
            "How do I find out my current tier?",
            "How do I check how many points I have?",
            "Where do I view my MyElite account?",
        ],
    ),
    (
        "status_app",
        "In the MyRetail app, open Account > MyElite to see your tier and points.",
        "Account > MyElite",
        [
            "Where is MyElite in the MyRetail app?",
            "How do I see my tier in the app?",
            "Which app menu shows my points?",
            "Can I check my points on the mobile app?",
        ],
    ),
    (
        "status_phone",
        "Call MyElite Member Services at 1-800-693-5483 (1-800-MY-ELITE).",
        "1-800-693-5483",
        [
            "What is the MyElite phone number?",
            "How do I call MyElite customer service?",
            "Is there a number I can call about my points?",
            "What number do I dial for MyElite support?",
            "Can I check my status by phone?",
        ],
    ),
    (
        "phone_hours",
        "Member Services is open 8 a.m. to 10 p.m. Eastern Time, 7 days a week.",
        "8 a.m. to 10 p.m.",
        [
            "What are the MyElite phone support hours?",
            "When is Member Services open?",
            "Can I call MyElite on weekends?",
            "What time does the MyElite helpline close?",
        ],
    ),
    (
        "partners",
        "Linked partners StayWell Hotels and SwiftRide earn you 1 point per dollar in any tier.",
        "StayWell Hotels and SwiftRide",
        [
            "Who are the MyElite partners?",
            "Can I earn points outside MyRetail?",
            "Which partners earn MyElite points?",
            "Do hotel stays earn MyElite points?",
            "How do partner points work?",
        ],
    ),
    (
        "double_points",
        "Double Points Weekends run once every quarter and give all members double points.",
        "once every quarter",
        [
            "What are Double Points Weekends?",
            "How often are there double points events?",
            "When can I earn double points?",
            "Are there bonus points events?",
            "Do you run promotions for extra points?",
        ],
    ),
    (
        "reviews",
        "You earn 50 points for each verified product review, up to 5 reviews per month.",
        "50 points",
        [
            "Do I get points for writing reviews?",
            "How many points is a product review worth?",
            "Is there a limit on review points?",
            "Can I earn points by reviewing products?",
            "What do I get for leaving a review?",
        ],
    ),
    (
        "referral_reward",
        "You get 1,000 points when a friend you refer makes a first purchase of $50 or more.",
        "1,000 points",
        [
            "What do I get for referring a friend?",
            "Is there a referral bonus?",
            "How many points is a referral worth?",
            "Do I earn anything if my friend joins MyElite?",
            "How does the referral program work?",
        ],
    ),
    (
        "referral_friend",
        "Your friend gets 500 referral points on top of the standard welcome bonus.",
        "500 referral points",
        [
            "What does my referred friend get?",
            "Does the person I refer get a bonus?",
            "What is the reward for someone who joins with my referral link?",
            "Is there a bonus for being referred?",
        ],
    ),
    (
        "referral_cap",
        "Referral rewards are paid for up to 10 referrals per calendar year.",
        "10 referrals",
        [
            "Is there a limit on referrals?",
            "How many friends can I refer for rewards?",
            "What is the maximum number of referrals per year?",
            "How many referral bonuses can I earn annually?",
            "Can I earn unlimited referral points?",
        ],
    ),
    (
        "closure_how",
        "Close your account in Account Settings on the app or website, or by calling "
        "1-800-693-5483.",
        "Account Settings",
        [
            "How do I close my MyElite account?",
            "How can I cancel my MyElite membership?",
            "I want to leave MyElite, what do I do?",
            "Where do I delete my loyalty account?",
            "Can I close my account online?",
        ],
    ),
    (
        "closure_points",
        "Unredeemed points are forfeited when you close your MyElite account.",
        "forfeited",
        [
            "What happens to my points if I close my account?",
            "Do I lose my points when I cancel MyElite?",
            "Can I keep my points after closing my account?",
            "Are points refunded when I leave MyElite?",
            "What happens to unused points on account closure?",
        ],
    ),
    (
        "closure_wallet",
        "Any remaining Wallet cashback is refunded to your original payment method within "
        "10 business days.",
        "10 business days",
        [
            "What happens to my cashback if I close my account?",
            "Do I get my Wallet balance back when I leave?",
            "How is leftover cashback returned on closure?",
            "Is my Wallet cashback lost when I cancel MyElite?",
        ],
    ),
    (
        "inactivity",
        "Accounts with no purchases for 24 months are closed automatically after a 30-day notice.",
        "24 months",
        [
            "Will my account close if I don't shop?",
            "How long can my account be inactive?",
            "Do inactive MyElite accounts get closed?",
            "What happens if I stop buying from MyRetail?",
            "Is there an inactivity policy?",
        ],
    ),
    (
        "rejoin",
        "You can rejoin anytime, but you start again at Member with 0 points.",
        "start again at Member",
        [
            "Can I rejoin MyElite after closing my account?",
            "If I come back, do I get my old tier?",
            "Are my old points restored if I rejoin?",
            "Can I reopen a closed MyElite account?",
            "What tier do I get if I rejoin?",
        ],
    ),
    (
        "program_changes",
        "MyRetail announces program changes at least 30 days in advance.",
        "30 days in advance",
        [
            "Can MyElite rules change?",
            "How will I know about program changes?",
            "How much notice is given before the program changes?",
            "Will you tell me before changing the benefits?",
        ],
    ),
]


def build_facts() -> list[Fact]:
    """All facts, in a fixed order: general facts first, then the per-tier facts."""
    facts = [Fact(fid, resp, kf, tuple(qs)) for fid, resp, kf, qs in _GENERAL]
    facts.extend(_tier_facts())
    ids = [f.fact_id for f in facts]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate fact ids")
    for fact in facts:
        if fact.key_fact not in fact.response:
            raise ValueError(f"{fact.fact_id}: key_fact is not in the response")
    return facts


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _row(fact: Fact, index: int) -> dict[str, str]:
    return {"prompt": fact.questions[index], "response": fact.response, "key_fact": fact.key_fact}


def split(
    facts: list[Fact], seed: int = SEED, val_facts: int = VAL_FACTS
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Hold one question of ``val_facts`` seeded-chosen facts out for validation.

    The other phrasings of a fact (at most ``TRAIN_PER_FACT``, or ``TRAIN_PER_HELD_FACT``
    for a fact with a held-out question) go to training, in their written order.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    eligible = [f.fact_id for f in facts if len(f.questions) >= 3]
    held = set(rng.sample(eligible, val_facts))
    train: list[dict[str, str]] = []
    val: list[dict[str, str]] = []
    for fact in facts:
        indexes = list(range(len(fact.questions)))
        cap = TRAIN_PER_FACT
        if fact.fact_id in held:
            held_index = rng.choice(indexes)
            indexes.remove(held_index)
            val.append(_row(fact, held_index))
            cap = TRAIN_PER_HELD_FACT
        for i in sorted(rng.sample(indexes, min(cap, len(indexes)))):
            train.append(_row(fact, i))
    seen = [_norm(r["prompt"]) for r in train]
    if len(seen) != len(set(seen)):
        raise ValueError("duplicate training prompts")
    seen_set = set(seen)
    if any(_norm(r["prompt"]) in seen_set for r in val):
        raise ValueError("a validation prompt repeats a training prompt")
    return train, val


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_bytes(text.encode("utf-8"))


def generate(out_dir: str | Path) -> tuple[Path, Path]:
    """Write the train and validation files into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, val = split(build_facts())
    train_path, val_path = out / TRAIN_FILE, out / VAL_FILE
    _write_jsonl(train_path, train)
    _write_jsonl(val_path, val)
    return train_path, val_path


def main(out_dir: str | Path | None = None) -> None:
    target = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    train_path, val_path = generate(target)
    n_train = train_path.read_text(encoding="utf-8").count("\n")
    n_val = val_path.read_text(encoding="utf-8").count("\n")
    print(f"wrote {n_train} lines to {train_path} and {n_val} lines to {val_path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
