"""The generated rules files are current and cover every intent at every question."""

from __future__ import annotations

import yaml

from bot.nlu import answer_rules


def test_generated_rules_files_are_up_to_date() -> None:
    assert answer_rules.main(["--check"]) == 0, "run python -m bot.nlu.answer_rules"


def test_every_intent_at_every_stage_goes_to_the_flows_reader() -> None:
    intents = answer_rules.intents()
    for flow in answer_rules.FLOWS:
        rules = yaml.safe_load(flow.path.read_text(encoding="utf-8"))["rules"]
        routed = {(r["condition"][0]["slot_was_set"][0]["retention_stage"], r["steps"][0]["intent"])
                  for r in rules if "condition" in r and r["steps"][1]["action"] == flow.action}
        expected = {(stage, intent) for stage in flow.stages for intent in intents
                    if intent not in flow.own_rule}
        assert routed == expected, flow.file


def test_intents_kept_out_of_a_flow_have_their_own_rule() -> None:
    own = yaml.safe_load((answer_rules.RULES_DIR / "intents.yml").read_text(encoding="utf-8"))["rules"]
    first_steps = {r["steps"][0].get("intent") for r in own if "intent" in r["steps"][0]}
    for flow in answer_rules.FLOWS:
        assert flow.own_rule <= first_steps, flow.file
