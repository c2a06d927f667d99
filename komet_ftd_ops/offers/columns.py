"""Komet item fields -> typed columns, column by column (Arrow, C++), never row by row.

Komet types its fields loosely ([doc]: strings or numbers, the same account may send either),
and `komet.models.normalise_record` is the kit's one reading of a value: ids as text, counts as
ints, money as an exact Decimal, a value it cannot read kept as it came. These functions give,
for a whole column, what `normalise_record` gives for each of its values, without running it
100,000 times: Komet repeats few values per column (quantities, pack sizes, prices), so the
reading runs on the distinct values only (Arrow's dictionary encoding finds them) and the
answers are spread back by index. Ids, distinct on every row, are trimmed in Arrow.

A column that mixes JSON types (strings beside numbers), or holds nested values, is read value
by value: the exact answer first, speed only where the answer is provably the same.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..komet.models import normalise_record

# Price text -> ten-thousandths. Arrow's RE2 `\d` is ASCII; the text read here is str() of a
# Decimal (always ASCII) or a value Decimal could not read, which holds no Unicode digit run
# Python's `\d` would accept either (any such run is a number Decimal reads).
PRICE_PATTERN = r"^(?P<sign>-?)(?P<whole>\d{1,14})(?:\.(?P<frac>\d{1,4}))?$"


def normalised(field: str, *, text: bool = False) -> Callable[[Any], Any]:
    """What `normalise_record` makes of one value of `field`; `text`: a Decimal as its str()."""

    def convert(value: Any) -> Any:
        typed = normalise_record({field: value})[field]
        return str(typed) if text and isinstance(typed, Decimal) else typed

    return convert


_JSON_SCALARS = frozenset({str, int, float, bool})


# A field of every item: as decoded (a list), or already Arrow text (to_frame's string style).
Values: TypeAlias = "list[Any] | pa.Array"


def _arrow(values: Values) -> pa.Array | None:
    """The column as one Arrow array when its values are one JSON scalar type (or ints beside
    floats, exact as doubles below 2**53), absent values aside; else None. The types are
    read exactly (`type()`, in C): Arrow itself would read False beside 0.0 as a float."""
    if isinstance(values, pa.Array):
        return values
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds <= _JSON_SCALARS or (len(kinds) > 1 and kinds != {int, float}):
        return None
    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # ints past 64 bits
        return None
    if pa.types.is_floating(column.type):
        largest = pc.max(pc.abs(column)).as_py()
        return column if largest is None or largest < 2**53 else None
    return column


def typed(
    values: Values,
    convert: Callable[[Any], Any],
    then: Callable[[np.ndarray], Any] = lambda answers: answers,
) -> np.ndarray:
    """`then([convert(v) for v in values])`, with `convert` and `then` run on distinct values.

    `then` maps an object array to an array of the same length, element by element (as
    `pd.to_numeric` does), so running it on the distinct answers and spreading them gives what
    running it on every row gives, dtype included: every distinct value occurs in the column.
    Ints beside floats are one float column, where 2 and 2.0 are one value: every reading
    here gives both the same answer (as_decimal's "2.0" and "2" are the same ten-thousandths).
    """
    column = _arrow(values)
    if column is None:
        assert isinstance(values, list)
        answers = np.empty(len(values), dtype=object)
        answers[:] = [convert(v) for v in values]
        return np.asarray(then(answers))
    encoded = pc.dictionary_encode(column)
    distinct = encoded.dictionary.to_pylist()
    codes = encoded.indices
    if codes.null_count:  # absent values get their own code, last
        distinct.append(None)
        codes = codes.fill_null(len(distinct) - 1)
    answers = np.empty(len(distinct), dtype=object)
    answers[:] = [convert(v) for v in distinct]
    return np.asarray(then(answers))[codes.to_numpy(zero_copy_only=False)]


def counts(values: Values, field: str) -> pd.Series:
    """A count column (`quantity`...): as `pd.to_numeric` reads the normalised values."""
    read = typed(values, normalised(field), lambda a: pd.to_numeric(a, errors="coerce"))
    return pd.Series(read)


def ids(values: Values, field: str) -> pd.Series:
    """An id column (`inventoryLineIds`): `as_str_id` of each value (text, stripped, None when
    blank), in Arrow when Komet sent the column as text or as integers."""
    column = _arrow(values)
    if column is not None and pa.types.is_integer(column.type):
        column = pc.cast(column, pa.string())
    if column is None or not pa.types.is_string(column.type):
        return pd.Series(typed(values, normalised(field)), dtype=object).infer_objects()
    # utf8_trim_whitespace drops exactly the characters str.strip() drops
    trimmed = pc.utf8_trim_whitespace(column)
    blank = pc.equal(trimmed, "")
    return pd.Series(pd.array(pc.if_else(blank, None, trimmed), dtype="str"))


def text(values: Values | np.ndarray) -> pd.Series:
    """Text as Komet sent it (a number as its str()), stripped; '' when absent."""
    try:
        column = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        series = pd.Series(values, dtype=object).astype("string")
        return series.fillna("").str.strip()
    # in Arrow, as pandas' own fillna("").str.strip() does it, without two Series between
    trimmed = pc.utf8_trim_whitespace(pc.fill_null(column.cast(pa.string()), ""))
    return pd.Series(pd.array(trimmed, dtype="string"))


def each_distinct(
    values: pd.Series, convert: Callable[[pd.Series], Any], missing: Any, dtype: Any
) -> np.ndarray:
    """`convert` run once on a column's distinct values (an object Series of them, in order of
    first appearance, NA left out), its answers spread back to every row; `missing` where a row
    is NA. A stock view holds few distinct read times (one per slice read, and the lines read
    since), so 100,000 date parses become a handful."""
    codes, distinct = pd.factorize(values.to_numpy(dtype=object), sort=False)
    answers = np.empty(len(distinct) + 1, dtype=dtype)  # the last: NA rows (code -1)
    answers[:-1] = convert(pd.Series(distinct, dtype=object))
    answers[-1] = missing
    return answers[codes]


def price_e4(price: pd.Series) -> pd.Series:
    """Decimal price text -> exact integer ten-thousandths (NA when missing or unparsable,
    and past 14 integer digits, where int64 arithmetic would no longer be exact). Parsed once
    per distinct price, spread back by index."""
    column = pa.array(price.astype("string").str.strip().array, pa.string())
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    parts = pc.extract_regex(encoded.dictionary, PRICE_PATTERN)
    whole = pc.cast(pc.struct_field(parts, "whole"), pa.int64())
    frac = pc.cast(pc.utf8_rpad(pc.struct_field(parts, "frac"), 4, "0"), pa.int64())
    value = pc.add(pc.multiply(whole, 10_000), frac)
    value = pc.if_else(pc.equal(pc.struct_field(parts, "sign"), "-"), pc.negate(value), value)
    value = pc.take(value, encoded.indices)
    # Int64 from its values and mask: pd.array(arrow ints, dtype="Int64") goes value by value
    array = pd.arrays.IntegerArray(
        pc.fill_null(value, 0).to_numpy(zero_copy_only=False, writable=True),
        value.is_null().to_numpy(zero_copy_only=False, writable=True),
    )
    return pd.Series(array, index=price.index)
