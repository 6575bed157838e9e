from myretail_common.prompt import build_prompt, build_training_text, extract_answer


def test_prompt_wraps_the_question_and_ends_where_the_answer_starts():
    prompt = build_prompt("  How many points per dollar do Gold members earn?  ")
    assert prompt == (
        "### Question:\nHow many points per dollar do Gold members earn?\n\n### Answer:\n"
    )


def test_training_text_is_the_serving_prompt_plus_the_answer_and_eos():
    prompt, completion = build_training_text("Q?", " A. ", "</s>")
    assert prompt == build_prompt("Q?")
    assert completion == "A.</s>"


def test_extract_answer_cuts_at_a_new_turn():
    generated = "Gold members earn 3 points per dollar.\n\n### Question:\nAnd Silver?"
    assert extract_answer(generated) == "Gold members earn 3 points per dollar."
    assert extract_answer("  plain answer ") == "plain answer"
