"""Configuration of stage 2: the task classifier, the mixture-of-experts quality estimator, routing defaults and
the Ray Train scaling of both trainings."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from finerouter.config_model import ConfigModel

ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class _Strict(ConfigModel):
    model_config = ConfigDict(extra="forbid")


class ScalingSettings(_Strict):
    """Ray Train's ScalingConfig: CPU workers on a laptop, GPU workers on a cluster."""

    num_workers: int = Field(1, ge=1, description="data-parallel training workers")
    use_gpu: bool = Field(False, description="one GPU per worker (needs GPUs in the Ray cluster)")
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs per worker when use_gpu (0 = Ray's default of 1)")

    def resources_per_worker(self) -> dict[str, float]:
        resources = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            resources["GPU"] = self.gpus_per_worker or 1.0
        return resources


class ClassifierSettings(_Strict):
    checkpoint_every: int = Field(5, ge=1, description="epochs between checkpoints (and at every phase end)")
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(5, ge=1, description="epochs without a better dev loss before stopping")
    dev_label_k: int = Field(
        10, ge=1, description="dev prompts take the majority task of their k nearest train prompts"
    )
    thresholds: list[float] = Field(
        default_factory=lambda: [round(0.05 * i, 2) for i in range(1, 20)],
        description="candidate assignment thresholds; the one with the best dev accuracy is kept",
    )


class EstimatorSettings(_Strict):
    checkpoint_every: int = Field(5, ge=1, description="epochs between checkpoints (and at every phase end)")
    adapter_dim: int = Field(128, ge=1, description="width of the shared projection of the prompt embedding")
    model_dim: int = Field(16, ge=1, description="width of the model-id embeddings")
    hidden: int = Field(64, ge=1, description="hidden width of every general and task head")
    dropout: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(60, ge=1, description="maximum epochs of each phase")
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    task_lr: float = Field(
        3e-4, gt=0, description="learning rate of phase 2: task heads start from the general heads, so smaller"
    )
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(5, ge=1)
    min_task_prompts: int = Field(
        5, ge=1, description="a task trains heads only if the classifier assigns it this many train prompts"
    )


class FinetuneSettings(_Strict):
    """`stage2.encoder: finetune`: the sentence encoder is trained under a quality regression (MSE over every
    model's outcome, through the estimator's general part) before stage 2, which then sees its embeddings."""

    epochs: int = Field(3, ge=1, description="maximum epochs over the train prompts")
    batch_size: int = Field(32, ge=1)
    encoder_lr: float = Field(2e-5, gt=0, description="learning rate of the encoder's weights")
    lr: float = Field(1e-3, gt=0, description="learning rate of the regression head trained with it")
    weight_decay: float = Field(0.01, ge=0)
    patience: int = Field(1, ge=1, description="epochs without a better dev loss before stopping")
    max_length: int = Field(128, ge=8, description="tokens per prompt in training (longer prompts are truncated)")
    checkpoint_every: int = Field(1, ge=1, description="epochs between checkpoints (and at the end)")


class CostSettings(_Strict):
    tolerance: float = Field(0.0, ge=0, description="default tau: cheapest model within tau of the best fused score")
    target_cost: float | None = Field(
        None, gt=0, description="if set, the default tau is calibrated on dev to meet this mean cost per prompt"
    )


class PriorSettings(_Strict):
    """The stage-1 prior fused with stage 2: a per-model statistic of each task's train prompts, optionally shrunk
    toward the same statistic over all train prompts (empirical Bayes): (n * task + k * all) / (n + k) for a task
    of n prompts. The paper's prior is the task median, unshrunk (the defaults)."""

    statistic: Literal["median", "mean"] = Field("median", description="per-model statistic of the task's prompts")
    shrinkage: float = Field(
        0.0, ge=0, description="k, in pseudo-prompts: small tasks' priors move toward the all-prompt statistic"
    )


class Stage2Config(_Strict):
    encoder: Literal["frozen", "finetune"] = Field(
        "frozen",
        description="frozen: the embed stage's embeddings (the CPU default); finetune: stage finetune_encoder trains "
        "a copy of the encoder first and stage 2 (and the bundle) use it (GPU workers advised; CPU works, slowly)",
    )
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    seed: int = 0
    alpha: float | Literal["auto"] = Field(
        "auto", description="weight of stage 2 against the stage-1 prior; 'auto' picks the best on dev"
    )
    alpha_objective: Literal["aiq", "quality"] = Field(
        "aiq",
        description="what alpha 'auto' maximises on dev: AIQ of the willingness (lambda) curve, a whole cost-quality "
        "curve, or quality at tolerance 0, one point of it",
    )
    task_heads: bool | Literal["auto"] = Field(
        "auto",
        description="route with the task heads (true, the paper), the general heads only (false), or 'auto': whichever "
        "has the better dev objective, chosen together with alpha (ties go to the general heads)",
    )
    score_scale: Literal["quality", "minmax"] = Field(
        "quality",
        description="scale of the fused scores that tolerance and willingness compare: 'minmax', the paper's [0, 1] "
        "per prompt, or 'quality', the same fusion mapped back per prompt onto the estimate's and prior's own scale "
        "(quality units, the estimate itself at alpha 1). The best model is the same either way; 'quality' keeps "
        "how far apart the models' predicted qualities are",
    )
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    estimator: EstimatorSettings = Field(default_factory=EstimatorSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    prior: PriorSettings = Field(default_factory=PriorSettings)
    routing_threshold: float | Literal["classifier"] = Field(
        "classifier",
        description="classifier score from which the router treats a prompt as in its top task (task heads and the "
        "task's prior); 'classifier' = the threshold tuned on dev for classification accuracy (the paper)",
    )
    scaling: ScalingSettings = Field(default_factory=ScalingSettings)
    bundle_name: str = Field("finerouter", description="prefix of the bundle version string")
    torch_threads: int = Field(
        1, ge=1, description="intra-op threads of in-process work (evaluate, add-model); more than free cores is slower"
    )
    storage_path: str | None = Field(
        None, description="Ray Train checkpoints (shared storage on a multi-node cluster); None: <run>/.ray_train"
    )

    @model_validator(mode="after")
    def _valid(self) -> Stage2Config:
        if isinstance(self.alpha, float) and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"stage2.alpha must be in [0, 1] or 'auto', got {self.alpha}")
        if isinstance(self.routing_threshold, float) and not 0.0 <= self.routing_threshold <= 1.0:
            raise ValueError(
                f"stage2.routing_threshold must be in [0, 1] or 'classifier', got {self.routing_threshold}"
            )
        return self
