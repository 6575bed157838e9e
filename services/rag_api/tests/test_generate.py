"""POST /generate in retrieval-only mode over the real catalog, model and embedded Qdrant."""

from __future__ import annotations

import re
import uuid

from myretail_rag.conversation.history import RedisHistory, SQLiteHistory
from myretail_testkit.rag import BOOK_QUESTION, SORT_QUESTION


def table_rows(markdown: str) -> list[list[str]]:
    """The data rows of the Markdown table in an answer."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return cells[2:]  # header and separator


def price(cell: str) -> float:
    return float(re.sub(r"[^0-9.]", "", cell))


def ask(client, prompt: str, session_id: str | None = None) -> dict:
    response = client.post("/generate", json={"prompt": prompt, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_books_example_question_gets_walking_shoes_for_senior_men(client, catalog_products):
    body = ask(client, BOOK_QUESTION)
    assert uuid.UUID(body["session_id"]).version == 4
    assert body["mode"] == "retrieval_only"
    rows = table_rows(body["response"])
    assert len(rows) == 5
    by_id = {p.product_id: p for p in catalog_products}
    for source in body["sources"]:
        product = by_id[source["product_id"]]
        assert product.subcategory == "walking shoes"
        assert product.gender in ("men", "unisex")
        assert product.age_group in ("senior", "adult")
        assert source["name"] == product.name and source["price"] == product.price
        assert 0 < source["score"] <= 1
    # The best matches are the ones made for older men.
    assert by_id[body["sources"][0]["product_id"]].age_group == "senior"
    assert [row[1] for row in rows] == [s["name"] for s in body["sources"]]
    assert all("walking" in row[1].lower() for row in rows)


def test_the_sort_follow_up_returns_the_same_products_by_price_descending(client):
    first = ask(client, BOOK_QUESTION)
    second = ask(client, SORT_QUESTION, first["session_id"])
    assert second["session_id"] == first["session_id"]
    before = {row[1] for row in table_rows(first["response"])}
    rows = table_rows(second["response"])
    assert {row[1] for row in rows} == before
    prices = [price(row[3]) for row in rows]
    assert prices == sorted(prices, reverse=True)
    assert "sorted by price, highest first" in second["response"]
    # and back the other way, by rating
    third = ask(client, "now sort them by rating, lowest first", first["session_id"])
    ratings = [float(row[4].split()[0]) for row in table_rows(third["response"])]
    assert ratings == sorted(ratings)
    assert {row[1] for row in table_rows(third["response"])} == before


def test_structured_follow_ups_price_and_person(client, catalog_products):
    by_id = {p.product_id: p for p in catalog_products}
    session = ask(client, BOOK_QUESTION)["session_id"]
    cheaper = ask(client, "only under $70", session)
    assert cheaper["sources"], cheaper["response"]
    for source in cheaper["sources"]:
        assert source["price"] <= 70
        assert by_id[source["product_id"]].subcategory == "walking shoes"
        assert by_id[source["product_id"]].gender in ("men", "unisex")
    women = ask(client, "what about for women?", session)
    for source in women["sources"]:
        product = by_id[source["product_id"]]
        assert product.gender in ("women", "unisex") and product.subcategory == "walking shoes"
        assert product.price <= 70  # the earlier bound still holds
    fresh = ask(client, "and some sweaters", session)
    assert {by_id[s["product_id"]].subcategory for s in fresh["sources"]} == {"sweaters"}
    assert all(by_id[s["product_id"]].gender in ("women", "unisex") for s in fresh["sources"])


def test_other_follow_ups_combine_recent_user_turns(client, catalog_products):
    by_id = {p.product_id: p for p in catalog_products}
    session = ask(client, "headphones for a teenager")["session_id"]
    follow = ask(client, "any wireless ones?", session)
    assert {by_id[s["product_id"]].subcategory for s in follow["sources"]} == {"headphones"}


def test_nothing_matching_is_said_plainly(client):
    body = ask(client, "walking shoes under $1")
    assert body["sources"] == []
    assert "could not find any products" in body["response"]


def test_session_ids_in_both_uuid_forms_share_one_conversation(client):
    session = uuid.uuid4()
    ask(client, BOOK_QUESTION, session.hex)
    second = ask(client, SORT_QUESTION, str(session))
    assert second["session_id"] == str(session)
    assert "same 5 products" in second["response"]


def test_history_survives_an_app_restart_sqlite(settings, store, embedding_model, make_client):
    path = settings.history_url.removeprefix("sqlite:///")
    first_history = SQLiteHistory(path, 3600)
    first = make_client(settings, store, first_history)
    session = ask(first, BOOK_QUESTION)["session_id"]
    first_history.close()  # the first app is gone; a new one opens the same file
    second = make_client(settings, store, SQLiteHistory(path, 3600))
    follow = ask(second, SORT_QUESTION, session)
    assert "same 5 products" in follow["response"]


def test_history_is_shared_by_two_app_instances_redis(settings, store, make_client, redis_server):
    redis_settings = settings.model_copy(update={"history_url": redis_server.url})
    one = make_client(redis_settings, store, RedisHistory(redis_server.url, 600))
    two = make_client(redis_settings, store, RedisHistory(redis_server.url, 600))
    session = ask(one, BOOK_QUESTION)["session_id"]
    follow = ask(two, SORT_QUESTION, session)
    assert "same 5 products" in follow["response"]
    import redis

    key = f"myretail:history:{uuid.UUID(session)}"
    connection = redis.Redis.from_url(redis_server.url)
    assert connection.llen(key) == 4
    assert 0 < connection.ttl(key) <= 600


def test_only_the_last_turns_are_kept_for_prompts(history):
    from langchain_core.messages import AIMessage, HumanMessage

    for turn in range(5):
        history.append("s", [HumanMessage(f"q{turn}"), AIMessage(f"a{turn}")])
    recent = history.messages("s", max_turns=2)
    assert [m.content for m in recent] == ["q3", "a3", "q4", "a4"]
    assert len(history.messages("s")) == 10
    assert history.messages("s", max_turns=0) == []


def test_a_message_that_names_nothing_gets_the_closest_products_and_a_hint(client):
    body = ask(client, "tell me a joke")
    assert body["response"].startswith("I am not sure which products you mean")
    assert len(body["sources"]) == 5
