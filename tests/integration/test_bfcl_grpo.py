"""A real GRPOTrainer step on the tiny model with BFCL multi-turn rows as `environment_factory` envs."""

import pytest

pytestmark = pytest.mark.integration


def test_grpo_step_runs_against_bfcl_multi_turn(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from rlkit.envs.bfcl_grpo import environment_factories, grpo_dataset
    from rlkit.envs.bfcl_multi_turn import multi_turn_row, reference_turns
    from rlkit.model import load_model_and_tokenizer

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    # A TradingBot-only row: its tool docs are the shortest (~4k tiny-model tokens), so the step stays cheap.
    dataset = grpo_dataset("multi_turn_base", limit=101).filter(lambda row: row["bfcl_id"] == "multi_turn_base_100")
    factories = environment_factories(dataset)
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, report_to=[], use_cpu=True, logging_steps=1, save_strategy="no",
                      max_tool_calling_iterations=2, shuffle_dataset=False)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=dataset,
                          environment_factory=factories)
    trainer.train()

    assert len(factories) == 1  # one TradingBot env class; TRL names its reward after the instances' class
    assert 0.0 <= trainer.state.log_history[0][f"rewards/{type(trainer.environments[0]).__name__}/mean"] <= 1.0
    # every rollout got its own env, reset with its own row and turn
    assert [(e._row["id"], e._turn) for e in trainer.environments] == [("multi_turn_base_100", t) for t in (0, 0, 1, 1)]
    # the tool dicts TRL dispatches model calls through reach that rollout's simulated trading account
    fund = reference_turns(multi_turn_row("multi_turn_base_100"))[1][0]
    assert fund.name == "fund_account"
    before = trainer.environments[2]._env.state()["TradingBot"]["account_info"]["balance"]
    response = trainer._sync_tool_dicts[2][fund.name](**fund.arguments)
    assert "Account funded successfully" in response
    assert trainer.environments[2]._env.state()["TradingBot"]["account_info"]["balance"] == before + fund.arguments["amount"]
