"""Instruction set: field layout, encode/decode, text and hex forms."""

from __future__ import annotations

import numpy as np
import pytest

from cimkit.codegen import isa
from cimkit.errors import CimkitError


def _random_program(seed: int, n: int = 200) -> list[isa.Instruction]:
    rng = np.random.default_rng(seed)
    ops = list(isa.OPCODES)
    prog = []
    for _ in range(n):
        op = ops[rng.integers(len(ops))]
        fields = {
            name: int(rng.integers(0, 1 << width, dtype=np.uint64))
            for name, (_, width) in isa.field_layout(op).items()
        }
        prog.append(isa.Instruction(op, fields, comment="c"))
    return prog


def test_fields_fit_and_do_not_overlap():
    for op in isa.FIELDS:
        used = 0
        for lsb, width in isa.field_layout(op).values():
            bits = ((1 << width) - 1) << lsb
            assert used & bits == 0, op
            assert lsb >= 0 and lsb + width <= isa.OPCODE_LSB
            used |= bits


def test_encode_decode_round_trip():
    prog = _random_program(0)
    words = isa.encode(prog)
    assert all(0 <= w < 1 << isa.WORD_BITS for w in words)
    assert isa.decode(words) == prog


def test_opcode_in_top_bits():
    word = isa.encode([isa.Instruction("HALT")])[0]
    assert word == 15 << (isa.WORD_BITS - 4)
    ins = isa.Instruction("COMPUTE", {"tile": 3, "delay": 8})
    word = isa.encode([ins])[0]
    lsb, width = isa.field_layout("COMPUTE")["delay"]
    assert word >> (isa.WORD_BITS - 4) == isa.OPCODES["COMPUTE"]
    assert (word >> lsb) & ((1 << width) - 1) == 8


def test_asm_and_hex_round_trip():
    prog = _random_program(1, 50)
    text = isa.to_asm(prog, header="test program\nsecond line")
    assert text.startswith("; test program\n; second line\n")
    back = isa.from_asm(text)
    assert back == prog
    assert [b.comment for b in back] == ["c"] * len(prog)
    hex_text = isa.to_hex(isa.encode(prog))
    assert all(len(line) == isa.WORD_BITS // 4 for line in hex_text.splitlines())
    assert isa.decode(isa.from_hex(hex_text)) == prog


def test_asm_accepts_hex_values_and_omitted_fields():
    (ins,) = isa.from_asm("  load_w tile=0x2 steps=16   ; a comment\n\n")
    assert ins.op == "LOAD_W" and ins["tile"] == 2 and ins["steps"] == 16 and ins["copies"] == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: isa.Instruction("LOAD_W", {"tile": 16}),  # 4-bit field
        lambda: isa.Instruction("LOAD_W", {"bogus": 1}),
        lambda: isa.Instruction("JUMP"),
        lambda: isa.decode([8 << (isa.WORD_BITS - 4)]),  # unused opcode
        lambda: isa.from_asm("COMPUTE tile"),
        lambda: isa.from_asm("COMPUTE tile=x"),
    ],
)
def test_invalid_instructions_raise(make):
    with pytest.raises(CimkitError):
        make()


def test_verilog_field_substitutions_match_layout():
    subs = isa.verilog_fields()
    lsb, width = isa.field_layout("MOVE")["dst_tiles"]
    assert subs["F_MOVE_dst_tiles"] == f"ir[{lsb} +: {width}]"
    assert subs["OP_COMPUTE"] == "4'd3"
