"""The instruction set of the generated accelerator: fields, binary encoding, text and hex forms.

Every instruction is one 160-bit word. Bits [159:156] hold the opcode; an opcode's fields follow
MSB-first from bit 123 down, in the order of :data:`FIELDS`; unused low bits are zero. The same
table drives the Python assembler and the Verilog decoders (the generator substitutes each field's
bit range into the templates), so the two cannot disagree.

Text form (``.asm``), one instruction a line, ``;`` starts a comment::

    LOAD_W tile=0 copies=2 steps=16 wlat=1 waddr=0    ; fc1 piece 0/1

Hex form (``.hex``): one word a line, 40 hex digits, readable by ``$readmemh``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cimkit.errors import CimkitError

#: Width of one instruction word (bits).
WORD_BITS = 160
#: Opcode position: bits [159:156].
OPCODE_BITS = 4
OPCODE_LSB = WORD_BITS - OPCODE_BITS

OPCODES: dict[str, int] = {
    "NOP": 0,
    "LOAD_W": 1,
    "SETIN": 2,
    "COMPUTE": 3,
    "MOVE": 4,
    "SYNC": 5,
    "CLRV": 6,
    "POOL": 7,
    "HALT": 15,
}
OPNAMES: dict[int, str] = {v: k for k, v in OPCODES.items()}

#: Fields of each opcode as (name, width in bits), MSB-first after the opcode.
FIELDS: dict[str, tuple[tuple[str, int], ...]] = {
    "NOP": (),
    # Write a piece's weights into every one of `copies` array copies of `tile` in `steps` row
    # steps from off-chip word address `waddr` on: step s writes row s of every array of a copy
    # at once (each array has its own row driver; one off-chip word holds the step's rows of all
    # row tiles), and each step occupies the write port for `wlat` cycles. Queued: LOAD_Ws run
    # one after another in the weight loader.
    "LOAD_W": (("tile", 4), ("copies", 6), ("steps", 16), ("wlat", 16), ("waddr", 32)),
    # Input geometry of the tile's next COMPUTE or POOL: the input tensor (in_h x in_w positions
    # of in_c channels starting at channel in_choff) in input-buffer `bank`, the kernel window,
    # stride, zero padding and output size.
    "SETIN": (
        ("tile", 4),
        ("bank", 1),
        ("in_h", 12),
        ("in_w", 12),
        ("in_c", 12),
        ("kh", 8),
        ("kw", 8),
        ("stride", 4),
        ("pad", 4),
        ("out_h", 12),
        ("out_w", 12),
        ("in_choff", 12),
    ),
    # Stream out_h*out_w vectors through `copies` array copies (copy k takes vectors k, k+copies,
    # ...), `delay` cycles per vector; arithmetic right shift and saturation; with `skip`, add
    # the skip tensor's word (input-buffer skip region, same position) and saturate again; ReLU
    # (after the add); write output channels [choff, choff+nch) of each vector to the tiles in
    # `dtiles` (bank bit per tile in `dbanks`, skip-region bit in `dskips`) and, when `dgb`, to
    # global-buffer word gbase + vector index. Input-channel pieces (partial sums): with `psin`,
    # add the skip region's word (the previous pieces' partial sum, full precision) to the dot
    # product before the shift; with `psout`, send that sum as it is (no shift, saturation or
    # ReLU) to the next piece, which adds its own.
    "COMPUTE": (
        ("tile", 4),
        ("copies", 6),
        ("delay", 16),
        ("relu", 1),
        ("shift", 5),
        ("choff", 12),
        ("nch", 12),
        ("dtiles", 16),
        ("dbanks", 16),
        ("dskips", 16),
        ("dgb", 1),
        ("gbase", 24),
        ("skip", 1),
        ("psin", 1),
        ("psout", 1),
    ),
    # Pool on a vector tile: for each of the out_h*out_w positions, the max (avg=0) or the
    # scaled sum ((sum * mul) >>> shift, saturated; avg=1) of the window of the SETIN geometry,
    # ReLU if `relu`; channels [0, nch) sent like COMPUTE's results, one position a cycle.
    "POOL": (
        ("tile", 4),
        ("avg", 1),
        ("relu", 1),
        ("mul", 16),
        ("shift", 5),
        ("nch", 12),
        ("dtiles", 16),
        ("dbanks", 16),
        ("dskips", 16),
        ("dgb", 1),
        ("gbase", 24),
    ),
    # Copy `count` words, channels [choff, choff+nch), from a global-buffer address or a tile's
    # input-buffer bank to word dst_base+i of the input-buffer bank `dst_bank` (its skip region
    # when `dst_skip`) of every tile in the mask `dst_tiles` (multicast) and/or of the global
    # buffer (`dst_gb`), one word a cycle over the NoC (background DMA with a command queue).
    "MOVE": (
        ("src_tile", 4),
        ("src_gb", 1),
        ("src_bank", 1),
        ("src_base", 24),
        ("dst_tiles", 16),
        ("dst_gb", 1),
        ("dst_bank", 1),
        ("dst_base", 24),
        ("count", 16),
        ("choff", 12),
        ("nch", 12),
        ("dst_skip", 1),
    ),
    # Barrier: wait until the selected units are idle.
    "SYNC": (("weights", 1), ("dma", 1), ("tiles", 1)),
    # Clear the valid bits of input-buffer bank `bank` in every tile.
    "CLRV": (("bank", 1),),
    "HALT": (),
}


def field_layout(op: str) -> dict[str, tuple[int, int]]:
    """``{field: (lsb, width)}`` of an opcode's fields inside the instruction word."""
    if op not in FIELDS:
        raise CimkitError(f"unknown opcode {op!r}; allowed: {', '.join(OPCODES)}")
    layout: dict[str, tuple[int, int]] = {}
    top = OPCODE_LSB
    for name, width in FIELDS[op]:
        top -= width
        layout[name] = (top, width)
    return layout


for _op in FIELDS:  # the table must fit in a word: checked once at import
    if sum(w for _, w in FIELDS[_op]) > OPCODE_LSB:
        raise AssertionError(f"{_op} fields exceed {OPCODE_LSB} bits")


@dataclass(frozen=True)
class Instruction:
    """One instruction: opcode name, all its fields as non-negative ints, and a comment.

    The comment (e.g. which layer piece a COMPUTE runs) is kept in the text form only; it is not
    encoded and does not take part in equality.
    """

    op: str
    fields: Mapping[str, int] = field(default_factory=dict)
    comment: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        layout = field_layout(self.op)
        given = dict(self.fields)
        unknown = sorted(set(given) - set(layout))
        if unknown:
            raise CimkitError(f"{self.op}: unknown fields {unknown}; allowed: {list(layout)}")
        full = {}
        for name, (_, width) in layout.items():
            value = int(given.get(name, 0))
            if not 0 <= value < (1 << width):
                raise CimkitError(
                    f"{self.op}.{name}={value} does not fit in {width} bits "
                    f"(allowed 0..{(1 << width) - 1})"
                )
            full[name] = value
        object.__setattr__(self, "fields", full)

    def __getitem__(self, name: str) -> int:
        return self.fields[name]

    def __hash__(self) -> int:
        return hash((self.op, tuple(sorted(self.fields.items()))))

    def to_text(self) -> str:
        """The ``.asm`` line of this instruction (fields in table order, comment after ';')."""
        args = " ".join(f"{k}={v}" for k, v in self.fields.items())
        line = f"{self.op} {args}".rstrip()
        return f"{line:<100} ; {self.comment}" if self.comment else line


def encode_one(ins: Instruction) -> int:
    """The instruction word of one instruction."""
    word = OPCODES[ins.op] << OPCODE_LSB
    for name, (lsb, _) in field_layout(ins.op).items():
        word |= ins.fields[name] << lsb
    return word


def decode_one(word: int) -> Instruction:
    """The instruction held in one word (unknown opcodes raise)."""
    if not 0 <= word < (1 << WORD_BITS):
        raise CimkitError(f"instruction word {word:#x} is not a {WORD_BITS}-bit value")
    code = word >> OPCODE_LSB
    if code not in OPNAMES:
        raise CimkitError(f"unknown opcode {code} in word {word:#x}")
    op = OPNAMES[code]
    fields = {
        name: (word >> lsb) & ((1 << width) - 1) for name, (lsb, width) in field_layout(op).items()
    }
    return Instruction(op, fields)


def encode(program: Iterable[Instruction]) -> list[int]:
    """Assemble a program into instruction words."""
    return [encode_one(ins) for ins in program]


def decode(words: Iterable[int]) -> list[Instruction]:
    """Disassemble instruction words into instructions (comments are lost)."""
    return [decode_one(int(w)) for w in words]


def to_asm(program: Sequence[Instruction], header: str = "") -> str:
    """The text (``.asm``) form of a program; ``header`` lines become ';' comments."""
    lines = [f"; {h}" if h else ";" for h in header.splitlines()]
    lines += [ins.to_text() for ins in program]
    return "\n".join(lines) + "\n"


def from_asm(text: str) -> list[Instruction]:
    """Parse the text form: ``OP field=value ...``; ';' comments and blank lines are skipped.

    Values may be decimal or 0x-prefixed hex; omitted fields are 0.
    """
    program = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        code, _, comment = raw.partition(";")
        parts = code.split()
        if not parts:
            continue
        op = parts[0].upper()
        if op not in OPCODES:
            raise CimkitError(f"line {lineno}: unknown opcode {parts[0]!r}")
        fields = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if not sep:
                raise CimkitError(f"line {lineno}: expected field=value, got {part!r}")
            try:
                fields[key] = int(value, 0)
            except ValueError:
                raise CimkitError(f"line {lineno}: {key}={value!r} is not an integer") from None
        program.append(Instruction(op, fields, comment.strip()))
    return program


def to_hex(words: Iterable[int], bits: int = WORD_BITS) -> str:
    """``$readmemh`` text: one word a line, ``bits / 4`` hex digits, zero-padded."""
    digits = -(-bits // 4)
    return "".join(f"{int(w):0{digits}x}\n" for w in words)


def from_hex(text: str) -> list[int]:
    """Words of a ``$readmemh`` text (one hex word a line; '//' comments skipped)."""
    words = []
    for raw in text.splitlines():
        line = raw.split("//")[0].strip()
        if line:
            words.append(int(line, 16))
    return words


def verilog_fields() -> dict[str, str]:
    """Template substitutions ``F_<OP>_<field>`` -> ``ir[lsb +: width]`` for the RTL decoders."""
    subs = {
        "F_OPCODE": f"ir[{OPCODE_LSB} +: {OPCODE_BITS}]",
        "IRMSB": str(WORD_BITS - 1),
        "IRBITS": str(WORD_BITS),
    }
    for op in FIELDS:
        for name, (lsb, width) in field_layout(op).items():
            subs[f"F_{op}_{name}"] = f"ir[{lsb} +: {width}]"
    for op, code in OPCODES.items():
        subs[f"OP_{op}"] = f"4'd{code}"
    return subs
