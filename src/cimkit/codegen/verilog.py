"""Render the RTL files and the testbench of a :class:`~cimkit.codegen.program.DesignMap`."""

from __future__ import annotations

from cimkit.codegen import rtl_templates as T
from cimkit.codegen.isa import WORD_BITS, verilog_fields
from cimkit.codegen.program import DesignMap, HardwareConfig, TileParams

#: Position (NoC address) and global-buffer address widths; match the instruction fields.
PW = 16
GAW = 24
DW = 16


def clog2(n: int) -> int:
    """Bits to index ``n`` items (at least 1)."""
    return max(1, (max(n, 1) - 1).bit_length())


def acc_width(tile: TileParams, hw: HardwareConfig) -> int:
    """Accumulator bits of one array column (its row tiles summed): a dot product of
    ``rt * rows`` products never overflows."""
    return hw.wbits + hw.abits + clog2(tile.rt * tile.rows) + 1


def render_rtl(dm: DesignMap) -> dict[str, str]:
    """``{file name: Verilog text}`` of every module, ``cim_top.v`` included."""
    subs = verilog_fields()
    files = {
        "cim_pim_array.v": T.PIM_ARRAY.substitute(subs),
        "cim_tile.v": T.TILE.substitute(subs),
        "cim_vtile.v": T.VTILE.substitute(subs),
        "cim_gbuf.v": T.GBUF.substitute(subs),
        "cim_noc.v": T.NOC.substitute(subs),
        "cim_dma.v": T.DMA.substitute(subs),
        "cim_wload.v": T.WLOAD.substitute(subs),
        "cim_ctrl.v": T.CTRL.substitute(subs),
        "cim_top.v": render_top(dm),
    }
    return files


def render_top(dm: DesignMap) -> str:
    """The top module: controller, weight loader, DMA, global buffer, NoC and the tiles."""
    hw = dm.hardware
    nt = len(hw.tiles)
    ww = hw.vlen * hw.elem_bits
    gb_depth = max(hw.gb_words, 1)
    n_ins = len(dm.program)
    lines = [
        T.HEADER.rstrip("\n"),
        "// Accelerator top (PIM-HLS Fig. 2(b)): the controller fetches the instruction",
        "// stream and drives the weight loader (LOAD_W), the DMA (MOVE) and the tiles",
        "// (SETIN/COMPUTE/POOL); tiles exchange activations over the NoC with each other",
        "// and the global buffer.",
        "// Tiles: " + "; ".join(_tile_summary(t) for t in hw.tiles),
        "module cim_top (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    output wire halted,",
        "    output wire [31:0] wm_addr,  // off-chip weight memory (read, combinational)",
        f"    input  wire [{hw.wmem_cols * hw.wbits - 1}:0] wm_rdata",
        ");",
        f"    localparam NT = {nt};",
        f"    localparam NS = {nt + 1};",
        f"    localparam VLEN = {hw.vlen};",
        f"    localparam ABITS = {hw.elem_bits};",
        f"    localparam WBITS = {hw.wbits};",
        f"    localparam WMC = {hw.wmem_cols};",
        f"    localparam PW = {PW};",
        f"    localparam GAW = {GAW};",
        f"    localparam NP = {hw.ports};",
        f"    localparam WW = {ww};",
        f"    localparam GBD = {gb_depth};",
        f"    localparam GBAW = {clog2(gb_depth)};",
        "",
        f"    wire [{WORD_BITS - 1}:0] ir;",
        "    wire ldw_go, move_go, clrv_go, wl_busy, wl_full, dma_busy, dma_full;",
        "    wire [NT-1:0] setin_go, compute_go, tile_busy;",
        f"    cim_ctrl #(.NT(NT), .DEPTH({n_ins}), .IAW({clog2(n_ins)})) u_ctrl (",
        "        .clk(clk), .rst(rst), .tile_busy(tile_busy), .wl_busy(wl_busy),",
        "        .wl_full(wl_full), .dma_busy(dma_busy), .dma_full(dma_full), .ir(ir),",
        "        .ldw_go(ldw_go), .move_go(move_go),",
        "        .clrv_go(clrv_go), .setin_go(setin_go), .compute_go(compute_go), .halted(halted)",
        "    );",
        "",
        "    wire wr_en;",
        "    wire [3:0] wr_tile;",
        "    wire [5:0] wr_copy;",
        "    wire [15:0] wr_row;",
        "    wire [WMC*WBITS-1:0] wr_data;",
        "    cim_wload #(.WMC(WMC), .WBITS(WBITS)) u_wload (",
        "        .clk(clk), .rst(rst), .cmd(ir), .go(ldw_go), .full(wl_full), .busy(wl_busy),",
        "        .wm_addr(wm_addr), .wm_rdata(wm_rdata), .wr_en(wr_en), .wr_tile(wr_tile),",
        "        .wr_copy(wr_copy), .wr_row(wr_row), .wr_data(wr_data)",
        "    );",
        "",
        "    // NoC: source 0 is the DMA, source 1+t is tile t.",
        "    wire [NS-1:0] s_req, s_grant, s_dgb;",
        "    wire [NS*NP-1:0] s_val;",
        "    wire [NS*16-1:0] s_dtiles, s_dbanks, s_dskips;",
        "    wire [NS*NP*PW-1:0] s_pos;",
        "    wire [NS*GAW-1:0] s_gbase;",
        "    wire [NS*NP*WW-1:0] s_data;",
        "    wire [NS*NP*VLEN-1:0] s_emask;",
        "    wire [NT*NP-1:0] t_we;",
        "    wire [NT-1:0] t_bank, t_skip;",
        "    wire [NT*NP*PW-1:0] t_pos;",
        "    wire [NT*NP*WW-1:0] t_data;",
        "    wire [NT*NP*VLEN-1:0] t_emask;",
        "    wire [NP-1:0] g_we;",
        "    wire [NP*GAW-1:0] g_addr;",
        "    wire [NP*WW-1:0] g_data;",
        "    wire [NP*VLEN-1:0] g_emask;",
        "    cim_noc #(.NS(NS), .NT(NT), .NP(NP), .VLEN(VLEN), .ABITS(ABITS), .PW(PW), .GAW(GAW))",
        "    u_noc (",
        "        .s_req(s_req), .s_val(s_val), .s_dtiles(s_dtiles), .s_dbanks(s_dbanks),",
        "        .s_dskips(s_dskips),",
        "        .s_dgb(s_dgb),",
        "        .s_pos(s_pos), .s_gbase(s_gbase), .s_data(s_data), .s_emask(s_emask),",
        "        .s_grant(s_grant), .t_we(t_we), .t_bank(t_bank), .t_skip(t_skip), .t_pos(t_pos),",
        "        .t_data(t_data), .t_emask(t_emask),",
        "        .g_we(g_we), .g_addr(g_addr), .g_data(g_data), .g_emask(g_emask)",
        "    );",
        "",
        "    wire dma_rd_gb, dma_rd_bank;",
        "    wire [3:0] dma_rd_tile;",
        "    wire [GAW-1:0] dma_rd_addr;",
        "    reg  [WW-1:0] dma_rd_data;",
        "    cim_dma #(.VLEN(VLEN), .ABITS(ABITS), .PW(PW), .GAW(GAW)) u_dma (",
        "        .clk(clk), .rst(rst), .cmd(ir), .go(move_go), .full(dma_full), .busy(dma_busy),",
        "        .rd_gb(dma_rd_gb), .rd_tile(dma_rd_tile), .rd_bank(dma_rd_bank),",
        "        .rd_addr(dma_rd_addr), .rd_data(dma_rd_data),",
        "        .out_req(s_req[0]), .out_dtiles(s_dtiles[15:0]), .out_dbanks(s_dbanks[15:0]),",
        "        .out_dskips(s_dskips[15:0]),",
        "        .out_dgb(s_dgb[0]), .out_pos(s_pos[PW-1:0]), .out_gbase(s_gbase[GAW-1:0]),",
        "        .out_data(s_data[WW-1:0]), .out_emask(s_emask[VLEN-1:0]), .out_grant(s_grant[0])",
        "    );",
        "    // The DMA sends one word a cycle: slot 0 of its bundle.",
        "    assign s_val[0] = 1'b1;",
        "",
        "    wire [WW-1:0] gb_rdata;",
        "    cim_gbuf #(.DEPTH(GBD), .AW(GBAW), .NP(NP), .VLEN(VLEN), .ABITS(ABITS), .GAW(GAW))",
        "    u_gb (",
        "        .clk(clk), .we(g_we), .waddr(g_addr), .wdata(g_data), .wemask(g_emask),",
        "        .raddr(dma_rd_addr[GBAW-1:0]), .rdata(gb_rdata)",
        "    );",
        "",
    ]
    if hw.ports > 1:
        lines[-1:-1] = [
            "    assign s_val[NP-1:1] = 0;",
            "    assign s_pos[NP*PW-1:PW] = 0;",
            "    assign s_data[NP*WW-1:WW] = 0;",
            "    assign s_emask[NP*VLEN-1:VLEN] = 0;",
        ]
    for t in hw.tiles:
        lines += _tile_instance(t, hw)
    lines += [
        "    // DMA source read: the global buffer or a tile's input buffer.",
        "    always @* begin",
        "        dma_rd_data = gb_rdata;",
        "        if (!dma_rd_gb)",
        "            case (dma_rd_tile)",
    ]
    lines += [f"                4'd{t.index}: dma_rd_data = tile{t.index}_rdata;" for t in hw.tiles]
    lines += [
        "                default: dma_rd_data = gb_rdata;",
        "            endcase",
        "    end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def _tile_summary(t: TileParams) -> str:
    if t.kind == "vector":
        return f"tile{t.index} vector unit (pooling), {t.depth} words/bank"
    skip = f" ({t.depth - t.di} skip)" if t.depth > t.di else ""
    full = (1 << (t.rt * t.ct)) - 1
    used = "" if t.amask in (0, full) else f" ({bin(t.amask).count('1')} used)"
    return (
        f"tile{t.index} {t.ncopy} copies x {t.rt}x{t.ct} arrays{used} of {t.rows}x{t.cols}, "
        f"{t.depth} words/bank{skip}"
    )


def _tile_instance(t: TileParams, hw: HardwareConfig) -> list[str]:
    i, s = t.index, t.index + 1
    if t.kind == "vector":
        module = "cim_vtile"
        params = dict(
            VLEN=hw.vlen, DI=t.di, DEPTH=t.depth, KHM=t.khm, KWM=t.kwm, CM=t.cinm,
            ABITS=hw.elem_bits, QBITS=hw.abits, AW=clog2(2 * t.depth), WBW=hw.wbits, PW=PW,
            NP=hw.ports,
        )  # fmt: skip
        wdata = f"wr_data[{hw.wbits - 1}:0]"
    else:
        module = "cim_tile"
        accw = acc_width(t, hw)
        params = dict(
            NCOPY=t.ncopy, ROWS=t.rows, COLS=t.cols, RT=t.rt, CT=t.ct, VLEN=hw.vlen, DI=t.di,
            DEPTH=t.depth, KHM=t.khm, KWM=t.kwm, WBITS=hw.wbits, ABITS=hw.elem_bits,
            QBITS=hw.abits, ACCW=accw, SUMW=max(accw, hw.elem_bits) + 2, RW=clog2(t.rows),
            AW=clog2(2 * t.depth),
            WBW=t.step_weights * hw.wbits, PW=PW, DW=DW, NP=hw.ports,
        )  # fmt: skip
        if t.amask and t.amask != (1 << (t.rt * t.ct)) - 1:
            params["AMASK"] = f"{t.rt * t.ct}'h{t.amask:x}"
        wdata = f"wr_data[{t.step_weights * hw.wbits - 1}:0]"
    plist = ", ".join(f".{k}({v})" for k, v in params.items())
    return [
        f"    // {_tile_summary(t)}",
        f"    wire [WW-1:0] tile{i}_rdata;",
        f"    {module} #({plist}) u_tile{i} (",
        f"        .clk(clk), .rst(rst), .ir(ir), .setin_go(setin_go[{i}]),",
        f"        .compute_go(compute_go[{i}]), .clrv_go(clrv_go), .busy(tile_busy[{i}]),",
        f"        .wr_en(wr_en && (wr_tile == 4'd{i})), .wr_copy(wr_copy), .wr_row(wr_row),",
        f"        .wr_data({wdata}),",
        f"        .in_we(t_we[{i}*NP +: NP]), .in_bank(t_bank[{i}]), .in_skip(t_skip[{i}]),",
        f"        .in_pos(t_pos[{i}*NP*PW +: NP*PW]),",
        f"        .in_data(t_data[{i}*NP*WW +: NP*WW]),",
        f"        .in_emask(t_emask[{i}*NP*VLEN +: NP*VLEN]),",
        f"        .out_req(s_req[{s}]), .out_val(s_val[{s}*NP +: NP]),",
        f"        .out_pos(s_pos[{s}*NP*PW +: NP*PW]),",
        f"        .out_data(s_data[{s}*NP*WW +: NP*WW]),",
        f"        .out_emask(s_emask[{s}*NP*VLEN +: NP*VLEN]),",
        f"        .out_dtiles(s_dtiles[{s}*16 +: 16]), .out_dbanks(s_dbanks[{s}*16 +: 16]),",
        f"        .out_dskips(s_dskips[{s}*16 +: 16]),",
        f"        .out_dgb(s_dgb[{s}]), .out_gbase(s_gbase[{s}*GAW +: GAW]),",
        f"        .out_grant(s_grant[{s}]),",
        f"        .dma_bank(dma_rd_bank), .dma_pos(dma_rd_addr[PW-1:0]), .dma_rdata(tile{i}_rdata)",
        "    );",
        "",
    ]


def render_testbench(
    dm: DesignMap, weight_files: list[tuple[str, int, int]], max_cycles: int
) -> str:
    """``tb_top.v``: loads the hex files, runs to HALT, dumps outputs, prints the cycle count.

    Args:
        dm: the design.
        weight_files: (path relative to the design folder, first word, words) per weight file.
        max_cycles: give up (print TIMEOUT) after this many cycles.
    """
    hw = dm.hardware
    wmb = hw.wmem_cols * hw.wbits
    wdepth = max(hw.wmem_words, 1)
    loads = [
        f'        $readmemh("{path}", wmem, {base}, {base + n - 1});'
        for path, base, n in weight_files
    ]
    in_last = hw.input_base + hw.input_words - 1
    return f"""{T.HEADER}// Testbench: loads program.hex into the controller, inputs.hex into the
// global buffer and the weight files into the off-chip weight memory model; runs until HALT;
// writes the output tensor (one signed value a line, position-major: position p, channel c)
// to +out=<file> (default outputs.txt) and prints "CYCLES <n>", the clock edges from reset
// release to HALT. With +trace it also prints "TRACE <cycle> ..." lines: instruction issues
// and units going idle.
module tb_top;
    localparam WMB = {wmb};
    localparam WDEPTH = {wdepth};
    localparam VLEN = {hw.vlen};
    localparam ABITS = {hw.elem_bits};
    localparam OBASE = {hw.output_base};
    localparam OWORDS = {hw.output_words};
    localparam OCH = {hw.output_channels};
    localparam MAXC = {max_cycles};
    localparam NT = {len(hw.tiles)};

    reg clk;
    reg rst;
    reg [WMB-1:0] wmem [0:WDEPTH-1];
    wire [31:0] wm_addr;
    wire [WMB-1:0] wm_rdata = (wm_addr < WDEPTH) ? wmem[wm_addr] : {{WMB{{1'b0}}}};
    wire halted;

    cim_top dut (
        .clk(clk), .rst(rst), .halted(halted), .wm_addr(wm_addr), .wm_rdata(wm_rdata)
    );

    initial clk = 1'b0;
    always #5 clk = ~clk;

    integer cycles, f, p, c;
    reg [8*1024-1:0] outfile;
    reg [VLEN*ABITS-1:0] word;
    initial begin
        if (!$value$plusargs("out=%s", outfile))
            outfile = "outputs.txt";
        $readmemh("program.hex", dut.u_ctrl.imem);
        $readmemh("inputs.hex", dut.u_gb.mem, {hw.input_base}, {in_last});
{chr(10).join(loads)}
        rst = 1'b1;
        repeat (3) @(posedge clk);
        @(negedge clk) rst = 1'b0;
        cycles = 0;
        while (!halted && cycles < MAXC) begin
            @(posedge clk);
            #1 cycles = cycles + 1;
        end
        if (!halted) begin
            $display("TIMEOUT after %0d cycles", cycles);
            $finish;
        end
        f = $fopen(outfile, "w");
        for (p = 0; p < OWORDS; p = p + 1) begin
            word = dut.u_gb.mem[OBASE + p];
            for (c = 0; c < OCH; c = c + 1)
                $fdisplay(f, "%0d", $signed(word[c*ABITS +: ABITS]));
        end
        $fclose(f);
        $display("CYCLES %0d", cycles);
        $finish;
    end

    // +trace: print when each instruction issues and when each unit goes idle (timing analysis).
    reg trace;
    reg [NT-1:0] tbusy_q;
    reg wl_q, dma_q;
    initial trace = $test$plusargs("trace");
    always @(posedge clk) begin
        if (trace && !rst) begin
            if (dut.u_ctrl.issue)
                $display("TRACE %0d issue pc=%0d op=%0d", cycles, dut.u_ctrl.pc - 1'b1,
                         dut.u_ctrl.op);
            for (p = 0; p < NT; p = p + 1)
                if (tbusy_q[p] && !dut.tile_busy[p])
                    $display("TRACE %0d tile%0d idle", cycles, p);
            if (wl_q && !dut.wl_busy)
                $display("TRACE %0d wload idle", cycles);
            if (dma_q && !dut.dma_busy)
                $display("TRACE %0d dma idle", cycles);
        end
        tbusy_q <= dut.tile_busy;
        wl_q <= dut.wl_busy;
        dma_q <= dut.dma_busy;
    end
endmodule
"""
