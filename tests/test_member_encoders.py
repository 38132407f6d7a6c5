"""The direct RFC 8785 encoders of a manifest's job and freshness write what the general one does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.crypto.canonical import canonical_json
from attest.errors import InputError
from attest.model.manifest import Freshness, ImageRef, Job
from attest.sign import canonical_freshness, canonical_job

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)  # no lone surrogates
ANY_TEXT = st.text(min_size=1, max_size=12)  # lone surrogates too
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2199, 9, 1), timezones=st.just(UTC)  # the Timestamp range
)
OPS = st.none() | st.floats(min_value=0, allow_nan=False, allow_infinity=False)
DIGEST = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)


def general(model: Job | Freshness) -> bytes | str:
    try:
        return canonical_json(model.to_obj())
    except InputError as exc:
        return exc.message


def direct(fn, model) -> bytes | str:  # type: ignore[no-untyped-def]
    try:
        return fn(model)  # type: ignore[no-any-return]
    except InputError as exc:
        return exc.message


@settings(max_examples=400, deadline=None)
@given(
    id=TEXT, scheduler=TEXT, phase=st.sampled_from(["start", "heartbeat", "end"]),
    started=st.none() | TIMES, span=st.none() | st.timedeltas(timedelta(0), timedelta(days=90)),
    ops=OPS, spec=st.none() | DIGEST, images=st.lists(st.tuples(TEXT, DIGEST), max_size=3),
)
def test_job_encoder_is_the_general_encoding(id, scheduler, phase, started, span, ops, spec, images) -> None:  # type: ignore[no-untyped-def]
    ended = started + span if started is not None and span is not None else None
    job = Job(
        id=id, scheduler=scheduler, phase=phase, started_at=started, ended_at=ended,
        declared_training_ops=ops, spec_digest=spec, images=[ImageRef(name=n, digest=d) for n, d in images],
    )
    assert canonical_job(job) == general(job)


@settings(max_examples=300, deadline=None)
@given(issued=TIMES, span=st.timedeltas(timedelta(seconds=1), timedelta(days=30)),
       seq=st.integers(0, 2**53 - 1), previous=DIGEST, nonce=st.text("0123456789abcdef", min_size=32, max_size=64))
def test_freshness_encoder_is_the_general_encoding(issued, span, seq, previous, nonce) -> None:  # type: ignore[no-untyped-def]
    fr = Freshness(issued_at=issued, expires_at=issued + span, nonce=nonce, sequence=seq, previous=previous if seq else None)
    assert canonical_freshness(fr) == general(fr)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the mistyped values, on purpose
@settings(max_examples=300, deadline=None)
@given(
    text=ANY_TEXT,
    ops=st.none() | st.floats() | st.integers(-(2**60), 2**60) | st.just(True) | st.just("7"),
    seq=st.integers(-(2**60), 2**60) | st.floats(),
)
def test_values_no_validated_model_holds_give_the_general_answer(text, ops, seq) -> None:  # type: ignore[no-untyped-def]
    # model_construct skips validation: surrogates, NaN, huge or wrongly typed numbers
    job = Job.model_construct(id=text, scheduler="slurm", phase="start", declared_training_ops=ops, images=[])
    assert direct(canonical_job, job) == general(job)
    fr = Freshness.model_construct(
        issued_at=datetime(2026, 1, 1, tzinfo=UTC), expires_at=datetime(2026, 1, 2, tzinfo=UTC),
        nonce=text, sequence=seq, previous=None,
    )
    assert direct(canonical_freshness, fr) == general(fr)


def test_a_lone_surrogate_is_refused_alike() -> None:
    job = Job.model_construct(id="a\ud800", scheduler="slurm", phase="start", images=[])
    with pytest.raises(InputError, match="lone UTF-16 surrogate"):
        canonical_job(job)
    with pytest.raises(InputError, match="lone UTF-16 surrogate"):
        canonical_json(job.to_obj())
