"""A SIMULATED routing benchmark (not real model outputs): planted task families and a simulated model pool.

Families are task types (translate, SQL, ...) x domains (cooking, astronomy, ...), each with its own wording.
Model ability grows with price, plus per-family offsets and a specialist per family, so cheap specialists
beat expensive generalists on some families and a family's model ranking is consistent.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import ConfigDict, Field, model_validator

from finerouter.config_model import ConfigModel
from finerouter.data.synthetic_lengths import REAL_TRAFFIC, LengthBand, apply_length_mix, check_bands
from finerouter.data.table import RawTable, RoutingTable
from finerouter.errors import ConfigError, DataError

# Task types: "## name answer_tokens" then templates; every template uses {a}, {b} (two domain terms), {n}.
_TASK_SPEC = """
## translate 40
Translate the sentence 'the {a} is next to the {b}' into {lang}; this is note number {n}.
How would you say '{n} {a} and one {b}' in {lang}? Give a literal translation.
Render this message in {lang}: 'Please check the {a} before the {b}, ticket {n}.'
## sql 90
Write a SQL query that returns the top {n} {a} records joined with the {b} table.
Give me a SQL SELECT statement counting {a} rows grouped by {b}, with LIMIT {n}.
Compose an SQL query to find every {a} with no matching {b} row in the last {n} days.
## summarise 150
Summarise in {n} sentences the following report about the {a} and its effect on the {b}.
Give a short summary, at most {n} bullet points, of this article on {a} versus {b}.
TL;DR this {n}-paragraph memo discussing the {a} and the {b}; keep only the key takeaways.
## debug-python 260
My Python function that parses {a} data raises KeyError '{b}' on line {n}. How do I fix the bug?
Debug this Python snippet: a for loop over the {a} list crashes with IndexError {n} reading {b}.
Why does my Python class for {a} throw AttributeError: no attribute '{b}'? Traceback at line {n}.
## word-problem 180
A shop sells {n} {a} per day and each needs two {b}. How many {b} are needed per week? Show steps.
If {n} {a} cost as much as 3 {b}, and one {b} costs 12 dollars, what does one {a} cost? Solve it.
Math problem: Sam had {n} {a}, gave a third away, then bought 5 {b}. How many items does Sam have?
## sentiment 6
Classify the sentiment (positive, negative, neutral) of review #{n}: 'The {a} was awful, the {b} fine.'
Is the tone of this customer comment positive or negative? 'I loved the {a}; the {b} took {n} minutes.'
Label the sentiment of review {n}: 'Honestly the {a} disappointed me and the {b} was even worse.'
## haiku 30
Write a haiku about the {a} and the {b}, poem number {n}.
Compose a 5-7-5 syllable haiku inspired by the {a}, mentioning the {b} and the number {n}.
Give me a short haiku poem on the theme of {a} at dawn with {b}; it is haiku {n} of my collection.
## convert-units 50
Convert {n} kilograms of {a} into pounds and ounces, then compare with the {b}.
The {a} measures {n} metres; convert that to feet and inches and to the size of the {b}.
Unit conversion: {n} litres of {a} flow per hour past the {b}. Express it in gallons per minute.
## explain 200
Explain like I'm five what the {a} is and how it relates to the {b}, in under {n} words.
Can you explain the concept of {a} to a beginner, using the {b} as an analogy? Limit {n} words.
Give a simple explanation of why the {a} matters for the {b}; aim for a {n}-word answer.
## quiz 220
Write {n} multiple-choice quiz questions about the {a}, four options each, one on the {b}.
Create a trivia quiz of {n} questions testing knowledge of {a} and {b}, with an answer key.
Generate {n} true-or-false exam questions covering the {a} and the {b} for a class test.
## email 170
Draft a polite email to my manager asking for {n} extra days to finish the {a} project on the {b}.
Write a professional email apologising to a client for the {a} delay, offering {n}% off the {b}.
Compose a short follow-up email about the {a} meeting; mention the {b} and the deadline in {n} days.
## pros-cons 190
List {n} pros and cons of choosing the {a} over the {b}.
What are the advantages and disadvantages of {a} compared with {b}? Give {n} of each.
Weigh up the {a} against the {b}: {n} benefits and {n} drawbacks, as a table.
## regex 60
Write a regular expression that matches {a} codes like 'X-{n}' but not {b} identifiers.
Give me a regex pattern to extract the {a} name and the {b} number ({n} digits) from log lines.
Which regex validates strings of the form '{a}:{n}' while rejecting anything containing {b}?
## json-extract 80
Extract the fields name, {a} and {b} from this text and output valid JSON with {n} records.
Parse the following paragraph into a JSON object with keys for {a}, {b} and count={n}.
Return only JSON: pull out every {a} mention and its {b} value from document {n}.
## fact-lookup 40
Who first described the {a}, and in what year was the {b} first documented? Question {n}.
Quick fact check: is it true that the {a} is older than the {b}? Cite a source, item {n}.
Trivia lookup {n}: where was the first {a} recorded, and who is known for the {b}?
## rewrite-formal 70
Rewrite this casual sentence in formal English: 'the {a} totally broke the {b} lol, like {n} times'.
Make this text sound more professional: 'gonna fix the {a} and the {b} by day {n}, no worries'.
Paraphrase formally: 'yeah the {a} thing and the {b} stuff cost us {n} bucks'.
"""
# Domains: "name: terms | openers", continued on indented lines; no term is shared between domains.
_DOMAIN_SPEC = """
cooking: sourdough starter, saffron risotto, cast-iron skillet, bechamel sauce, pastry dough, wok, paella,
  braised short ribs, vanilla custard, fermented kimchi, chef knife, garlic marinade, souffle, pesto
  | I run a small bakery. | For my cooking class: | Our restaurant kitchen needs this.
astronomy: nebula, red giant star, telescope mirror, exoplanet, lunar eclipse, pulsar, Andromeda galaxy,
  comet tail, spectrograph, black hole, Saturn rings, meteor shower, supernova, quasar
  | I am an amateur stargazer. | For my astrophysics lecture: | Our observatory team asks this.
finance: mortgage, bond yield, dividend, hedge fund, stock option, inflation rate, index fund, IPO,
  credit card debt, balance sheet, treasury bill, capital gains tax, savings account, crypto wallet
  | I work at an investment bank. | For my personal budget: | Our accounting firm needs this.
medicine: insulin dose, MRI scan, antibiotic, blood pressure, vaccine, cardiology ward, stethoscope,
  chemotherapy, bone fracture, diagnosis, pediatrician, allergy, surgical mask, hospital pharmacy
  | I am a nurse on night shift. | For my medical school exam: | Our clinic's doctors ask this.
law: contract clause, lawsuit, tenant lease, patent, court ruling, plaintiff, subpoena, copyright,
  arbitration, attorney, verdict, statute, affidavit, probate court
  | I am a paralegal. | For my law school seminar: | Our legal department needs this.
sports: marathon, football match, tennis serve, referee, penalty kick, basketball coach, Olympic sprint,
  goalkeeper, cycling race, swimming relay, hockey puck, golf swing, ski jump, boxing glove
  | I coach a youth team. | For my sports blog: | Our fitness club asks this.
gardening: tomato seedlings, compost heap, rose bush, greenhouse, aphids, soil pH, pruning shears,
  tulip bulbs, raised bed, mulch, orchard, hydrangea, watering can, lavender hedge
  | I keep an allotment garden. | For my horticulture course: | Our community garden needs this.
music: guitar chord, symphony orchestra, piano sonata, drum kit, jazz solo, violin bow, concert ticket,
  vinyl album, choir, synthesizer, opera aria, bass line, saxophone reed, recording studio
  | I play in a rock band. | For my music theory class: | Our concert hall asks this.
automotive: engine oil, brake pads, electric car battery, gearbox, tire pressure, spark plug, radiator,
  turbocharger, windshield, car dealership, hybrid SUV, exhaust pipe, steering wheel, clutch pedal
  | I run a car repair garage. | For my mechanics apprenticeship: | Our auto dealership needs this.
geology: volcano, granite, earthquake fault, sediment layer, tectonic plate, fossil, limestone cave,
  glacier, magma chamber, quartz crystal, mineral sample, canyon, basalt column, geyser
  | I am a field geologist. | For my earth science class: | Our mining survey team asks this.
fashion: silk dress, denim jacket, runway show, leather boots, knitwear, handbag, tailored suit,
  sneaker release, cotton fabric, fashion designer, wool scarf, evening gown, sewing pattern, lace veil
  | I own a clothing boutique. | For my fashion design portfolio: | Our textile studio needs this.
aviation: jet engine, cockpit, airport runway, pilot license, air traffic control, turbulence,
  flight delay, boarding gate, cargo plane, propeller, altimeter, flight attendant, hangar, autopilot
  | I am a trainee pilot. | For my aviation safety course: | Our airline crew asks this.
"""


def _parse_tasks(spec: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """task type -> (typical answer length in tokens, templates)."""
    tasks: dict[str, tuple[int, tuple[str, ...]]] = {}
    for block in spec.split("## ")[1:]:
        head, *templates = block.strip().splitlines()
        name, length = head.split()
        tasks[name] = (int(length), tuple(templates))
    return tasks


def _parse_domains(spec: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """domain -> (terms, openers that set the scene)."""
    domains: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for line in spec.strip().replace("\n  ", " ").splitlines():
        name, rest = line.split(":", 1)
        terms, *openers = rest.split("|")
        domains[name] = (tuple(t.strip() for t in terms.split(",")), tuple(o.strip() for o in openers))
    return domains


TASKS = _parse_tasks(_TASK_SPEC)
DOMAINS = _parse_domains(_DOMAIN_SPEC)
LANGUAGES: tuple[str, ...] = ("French", "Spanish", "German", "Italian", "Japanese", "Portuguese", "Dutch")
N_RANGE: tuple[int, int] = (2, 1000)  # the {n} slot draws from [2, 1000)
MAX_FAMILIES = len(TASKS) * len(DOMAINS)
LONGEST_TEMPLATE = (
    max(len(o) for _, openers in DOMAINS.values() for o in openers)
    + 1
    + max(
        len(t.format(a=max(terms, key=len), b=max(terms, key=len), n=N_RANGE[1] - 1, lang=max(LANGUAGES, key=len)))
        for _, templates in TASKS.values()
        for t in templates
        for terms, _ in DOMAINS.values()
    )
)
NOTE = (
    "FineRouter simulated benchmark, not real model outputs: prompts come from templates and model "
    "qualities, tokens and costs from a random model of planted task families."
)


class SyntheticConfig(ConfigModel):
    """Size and difficulty of a simulated routing benchmark; the same config always gives the same data."""

    model_config = ConfigDict(extra="forbid")

    n_prompts: int = Field(3000, ge=1, le=50_000_000, description="Number of prompts.")
    n_families: int = Field(40, ge=1, le=MAX_FAMILIES, description="Planted task families (task x domain).")
    n_models: int = Field(8, ge=2, le=64, description="Simulated models in the pool.")
    quality: Literal["binary", "continuous"] = "continuous"
    noise: float = Field(0.05, ge=0, le=1, description="Std of per-outcome noise on continuous quality.")
    seed: int = Field(0, ge=0)
    specialist_boost: float = Field(2.5, ge=0, le=20, description="Logit boost of each family's specialist.")
    family_spread: float = Field(0.6, ge=0, le=10, description="Std of per-family per-model logit offsets.")
    difficulty_spread: float = Field(0.5, ge=0, le=10, description="Std of per-prompt difficulty (logit).")
    family_size_alpha: float = Field(5.0, gt=0, description="Dirichlet concentration of family sizes.")
    min_price: float = Field(0.1, gt=0, description="Cheapest input price, USD per 1M tokens.")
    max_price: float = Field(10.0, gt=0, description="Dearest output price, USD per 1M tokens.")
    prompt_lengths: Literal["real_traffic"] | list[LengthBand] | None = Field(
        None,
        description="None: prompts as templated (about 80-200 characters). 'real_traffic': 85% of 50-400 "
        "characters, 5% of 400-1,000, 10% of 1,000-4,000. Or a list of {min_chars, max_chars, share}. Prompts are "
        "lengthened with context sentences about their domain, after the request.",
    )

    def length_bands(self) -> tuple[LengthBand, ...] | None:
        if self.prompt_lengths == "real_traffic":
            return REAL_TRAFFIC
        return None if self.prompt_lengths is None else tuple(self.prompt_lengths)

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        if self.max_price <= 4 * self.min_price:
            raise ValueError(
                f"max_price ({self.max_price:g}) must exceed 4 x min_price ({self.min_price:g}): "
                "output prices are 4x input prices and the pool needs a price spread"
            )
        bands = self.length_bands()
        if bands is not None:
            check_bands(bands, LONGEST_TEMPLATE)
        if self.n_families > self.n_prompts:
            raise ValueError(f"n_families ({self.n_families}) cannot exceed n_prompts ({self.n_prompts})")
        return self


def _model_pool(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Models ordered by price, named by tier; returns (models frame, ability logit, verbosity)."""
    frac = np.linspace(0.0, 1.0, cfg.n_models)
    input_price = np.round(cfg.min_price * (cfg.max_price / 4 / cfg.min_price) ** frac, 4)
    tiers = np.where(frac < 1 / 3, "small", np.where(frac < 2 / 3, "medium", "large"))
    names = [f"sim-{tier}-{(tiers[:i] == tier).sum() + 1}" for i, tier in enumerate(tiers)]
    ability = -0.5 + 2.0 * frac + rng.normal(0, 0.15, cfg.n_models)  # general ability grows with price
    verbosity = np.exp(rng.normal(0, 0.25, cfg.n_models))
    models = pd.DataFrame({"model": names, "input_price": input_price, "output_price": input_price * 4})
    return models, ability, verbosity


def _prompt_texts(families: list[tuple[str, str]], sizes: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Each family's prompts from distinct (template, a, b, n) combinations, so no text repeats."""
    n_lo, n_hi = N_RANGE
    texts: list[str] = []
    for (task, domain), size in zip(families, sizes, strict=True):
        templates, (vocab, openers) = TASKS[task][1], DOMAINS[domain]
        radix = (len(templates), len(vocab), len(vocab) - 1)
        space = int(np.prod(radix)) * (n_hi - n_lo)
        if size > space:
            raise ConfigError(
                f"family {task}/{domain} would need {size} prompts but its templates allow only {space} "
                "distinct ones; raise n_families or lower n_prompts"
            )
        code = rng.choice(space, size=int(size), replace=False)
        code, t = np.divmod(code, radix[0])
        code, a = np.divmod(code, radix[1])
        n, b = np.divmod(code, radix[2])
        b = b + (b >= a)  # the two terms differ
        lang, opener = rng.integers(0, len(LANGUAGES), size), rng.integers(0, len(openers), size)
        slots = np.stack([t, a, b, n + n_lo, lang, opener], axis=1).tolist()
        texts.extend(
            openers[oi] + " " + templates[ti].format(a=vocab[ai], b=vocab[bi], n=ni, lang=LANGUAGES[li])
            for ti, ai, bi, ni, li, oi in slots
        )
    return texts


def generate_synthetic(cfg: SyntheticConfig | None = None) -> RawTable:
    """A simulated routing benchmark: source = planted family, category = task type, split left to hashing."""
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    n, m, k = cfg.n_prompts, cfg.n_models, cfg.n_families
    task_names, domain_names = list(TASKS), list(DOMAINS)
    pairs = rng.permutation(MAX_FAMILIES)[:k]
    fam_task = [task_names[i] for i in pairs // len(domain_names)]
    families = list(zip(fam_task, (domain_names[i] for i in pairs % len(domain_names)), strict=True))
    family_names = np.asarray([f"{t}/{d}" for t, d in families], dtype=object)
    models, ability, verbosity = _model_pool(cfg, rng)

    weights = rng.dirichlet(np.full(k, cfg.family_size_alpha))
    sizes = 1 + rng.multinomial(n - k, weights)
    texts_by_family = _prompt_texts(families, sizes, rng)
    bands = cfg.length_bands()
    if bands is not None:  # its own random stream: the rest of the table is the same with or without it
        terms = [DOMAINS[domain][0] for (_, domain), size in zip(families, sizes, strict=True) for _ in range(size)]
        texts_by_family = apply_length_mix(texts_by_family, terms, bands, np.random.default_rng([cfg.seed, 24]))
    texts = np.asarray(texts_by_family, dtype=object)
    order = rng.permutation(n)  # interleave the families
    fam = np.repeat(np.arange(k), sizes)[order]
    prompt_ids = np.asarray([f"syn-{i:07d}" for i in range(n)], dtype=object)
    prompts = pd.DataFrame(
        {
            "prompt_id": prompt_ids,
            "prompt": texts[order],
            "source": family_names[fam],
            "category": np.asarray(fam_task, dtype=object)[fam],
            "split": None,
        }
    )

    # skill (logit) = general ability + family offsets + the family's specialist boost - prompt difficulty
    offsets = rng.normal(0.0, cfg.family_spread, (k, m)) + rng.normal(0.0, 0.7, (k, 1))
    specialist = rng.permutation(np.resize(rng.permutation(m), k))  # every model specialises somewhere
    offsets[np.arange(k), specialist] += cfg.specialist_boost * rng.uniform(0.6, 1.4, k)
    difficulty = rng.normal(0.0, cfg.difficulty_spread, (n, 1))
    p_good = 1.0 / (1.0 + np.exp(difficulty - (ability[None, :] + offsets)[fam]))
    if cfg.quality == "binary":
        quality = (rng.random((n, m)) < p_good).astype(np.float64)
    else:
        quality = np.clip(p_good + rng.normal(0.0, cfg.noise, (n, m)), 0.0, 1.0)

    # tokens: ~4 characters per input token plus a chat preamble; answers by task length x verbosity
    chars = np.fromiter(map(len, prompts["prompt"]), dtype=np.int64, count=n)
    in_tokens = np.repeat(np.ceil(chars / 4).astype(np.int64) + 12, m)
    answer = np.asarray([TASKS[t][0] for t in fam_task], dtype=np.float64)[fam][:, None] * verbosity[None, :]
    answer = answer * np.exp(rng.normal(0.0, 0.3, (n, m)))
    out_tokens = np.maximum(1, np.rint(answer)).astype(np.int64).ravel()
    in_price = np.tile(models["input_price"].to_numpy(), n)
    out_price = np.tile(models["output_price"].to_numpy(), n)
    outcomes = pa.table(
        {
            "prompt_id": pa.array(prompt_ids, pa.string()).take(np.repeat(np.arange(n), m)),
            "model": pa.array(models["model"], pa.string()).take(np.tile(np.arange(m), n)),
            "quality": quality.ravel(),
            "cost": (in_tokens * in_price + out_tokens * out_price) / 1e6,
            "input_tokens": in_tokens,
            "output_tokens": out_tokens,
        }
    ).to_pandas()
    report: dict[str, Any] = {
        "format": "synthetic",
        "simulated": True,
        "note": NOTE,
        "config": cfg.model_dump(exclude_none=True),  # prompt_lengths only when set: older tables keep their hash
        "families": {str(name): int(s) for name, s in zip(family_names, sizes, strict=True)},
        "specialists": dict(zip(map(str, family_names), models["model"][specialist], strict=True)),
    }
    return RawTable(prompts=prompts, models=models, outcomes=outcomes, report=report)


def planted_families(table: RawTable | RoutingTable) -> pd.Series:
    """prompt_id -> planted family (the `source` column) of a synthetic RawTable or RoutingTable."""
    prompts = table.prompts
    if "source" not in prompts.columns or prompts["source"].isna().any():
        raise DataError("planted_families needs a synthetic table: every prompt's 'source' is its family")
    index = pd.Index(prompts["prompt_id"].astype(str), name="prompt_id")
    return pd.Series(prompts["source"].astype(str).to_numpy(), index=index, name="family")
