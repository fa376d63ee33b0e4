#!/usr/bin/env python3
"""Generate the C, GLSL, meson and documentation mirrors of the op manifest src/ops/ops.def.

    gen_ops.py [MANIFEST] MODE [OUT]

MODE (one per call; OUT is the file to write, '-' or nothing = stdout):
  --pc-header       ldm_ops_pc.h: every ldm_pc_<op> typedef, with offsetof/sizeof static asserts
  --op-list         ldm_op_list.h: the LDM_OP(name) X-macro list, in op-id order
  --op-table        ldm_op_table.h: per-op family, push-constant size, tolerance, autodiff flag (core/ops.c)
  --shader-list     ldm_shader_list.h: the LDM_SHADER(variant, op) X-macro list of every shader variant
  --step-h          ldm/step.h: the LDM_STEP_* enum (installed public header)
  --glsl-pc         ldm_pc.glsl: LDM_PC_FIELDS of the variant being compiled (LDM_VARIANT_<NAME>)
  --glsl-step       ldm_step.glsl: the STEP_* defines
  --meson-variants  one line per shader variant: "variant source [define...]" (shaders/meson.build)
  --act-list        ldm_act_list.h: the LDM_ACT(name) X-macro list of the activation ops (`act` entries)
  --act-h           ldm/activations.h: the public builders of the activation ops (installed, via ldm/ops.h)
  --act-c           ldm_act_ops.c: their builders, backward emitters and op descs ldm_op_desc_<op>
  --docs-table      ops-table.md: the op table and the step-buffer table (installed with the docs)
  --check-table TABLE DOC
                    exit 1 when TABLE is not what --docs-table makes, lacks a row of an op, or when DOC
                    does not point to it (or still holds a copy of the tables)

MANIFEST defaults to src/ops/ops.def next to this script's repository. Python 3 standard library only.
"""
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MANIFEST = os.path.join(ROOT, 'src', 'ops', 'ops.def')

FAMILIES = ('basic', 'norm', 'conv', 'diffusion')
C_TYPES = {'u32': 'uint32_t', 'i32': 'int32_t', 'f32': 'float'}
GLSL_TYPES = {'u32': 'uint', 'i32': 'int', 'f32': 'float'}
STEP_TYPES = ('u32', 'f32', 'mark')
IDENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
C_KEYWORDS = set('''auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
_Thread_local'''.split())
# GLSL keywords and reserved words that could plausibly be a field name
GLSL_RESERVED = set('''attribute const uniform varying buffer shared coherent volatile restrict readonly writeonly
atomic_uint layout centroid flat smooth noperspective patch sample break continue do for while switch case default
if else subroutine in out inout float double int void bool true false invariant precise discard return lowp mediump
highp precision struct common partition active asm class union enum typedef template this resource goto inline
noinline public static extern external interface long short half fixed unsigned superp input output filter
sizeof cast namespace using uint'''.split())
# what docs/ops.md must say (the name of the generated table) and must not hold (a stale copy of it)
DOC_TABLE_NAME = 'ops-table.md'
DOC_STALE = '<!-- BEGIN ops table'


class ManifestError(Exception):
    pass


class Op:
    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.family = None
        self.tol = None
        self.grad = None
        self.fields = None  # [(type, c_name, glsl_name)], None until `pc`
        self.share = None  # name of the op whose block this one uses
        self.shaders = []  # [(variant, source, [defines])]
        self.doc = []
        self.act = None  # activation ops: the activation's name (NAME and NAME_backward)

    @property
    def pc_op(self):
        return self.share or self.name


def parse_fields(text, where):
    fields = []
    for group in text.split(';'):
        group = group.strip()
        if not group:
            raise ManifestError('%s: empty field group in "pc %s"' % (where, text))
        parts = group.split(None, 1)
        if len(parts) != 2 or parts[0] not in C_TYPES:
            raise ManifestError('%s: "%s": expected TYPE NAME[, NAME...] with TYPE one of %s'
                                % (where, group, ', '.join(C_TYPES)))
        for name in parts[1].split(','):
            name = name.strip()
            c_name, _, glsl_name = name.partition(':')
            glsl_name = glsl_name or c_name
            for n in (c_name, glsl_name):
                if not IDENT.match(n):
                    raise ManifestError('%s: field name "%s" is not an identifier' % (where, n))
            if c_name in C_KEYWORDS:
                raise ManifestError('%s: field name "%s" is a C keyword' % (where, c_name))
            if glsl_name in GLSL_RESERVED:
                raise ManifestError('%s: field name "%s" is reserved in GLSL: write %s:OTHERNAME'
                                    % (where, glsl_name, c_name))
            fields.append((parts[0], c_name, glsl_name))
    seen = set()
    for _, c, g in fields:
        if c in seen:
            raise ManifestError('%s: field "%s" twice' % (where, c))
        seen.add(c)
    return fields


def parse_tol(text, where):
    try:
        float(text)
    except ValueError:
        raise ManifestError('%s: tolerance "%s" is not a number' % (where, text))
    if not re.match(r'^[0-9][0-9.eE+-]*$', text):
        raise ManifestError('%s: tolerance "%s" must be a plain C double literal' % (where, text))
    return text


def activation_ops(fwd):
    """The two ops an `act NAME` entry stands for: NAME (y = act(x)) and NAME_backward (dx (+)= act'(x) dy),
    with their blocks and their variants of the generic unary.comp / binary.comp bodies."""
    name = fwd.name
    bwd = Op(name + '_backward', fwd.line)
    for op in (fwd, bwd):
        op.family = 'basic'
        op.act = name
    fwd.grad, bwd.grad = True, False
    fwd.fields = [('u32', 'n', 'n')]
    bwd.fields = [('u32', 'n', 'n'), ('u32', 'accumulate', 'accumulate')]
    fwd.shaders = [(name, 'unary.comp', ['LDM_ACT=act_' + name])]
    bwd.shaders = [(bwd.name, 'binary.comp', ['LDM_ACT_BACKWARD=act_%s_backward' % name])]
    bwd.doc = ['dx (+)= dy %s\'(x): the backward op of %s.' % (name, name)]
    fwd.pair, bwd.pair = bwd, fwd
    bwd.tol_implied = True
    return [fwd, bwd]


def activations(ops):
    """The names of the activations, in manifest order."""
    return [op.name for op in ops if op.act == op.name]


def parse(path):
    ops, steps = [], []
    cur = None
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    for lineno, raw in enumerate(lines, 1):
        where = '%s:%d' % (os.path.basename(path), lineno)
        line = raw.split('#', 1)[0].rstrip()
        if not line.strip():
            continue
        indented = line[0] in ' \t'
        words = line.split()
        key, rest = words[0], line.strip()[len(words[0]):].strip()
        if not indented:
            cur = None
            if key == 'step':
                w = rest.split(None, 3)
                if len(w) < 3:
                    raise ManifestError('%s: expected "step NAME INDEX TYPE COMMENT"' % where)
                name, index, typ = w[0], w[1], w[2]
                if not re.match(r'^[A-Z][A-Z0-9_]*$', name):
                    raise ManifestError('%s: step name "%s" must be upper case' % (where, name))
                if not index.isdigit():
                    raise ManifestError('%s: step index "%s" is not a number' % (where, index))
                if typ not in STEP_TYPES:
                    raise ManifestError('%s: step type "%s" is not one of %s' % (where, typ, ', '.join(STEP_TYPES)))
                steps.append((name, int(index), typ, w[3] if len(w) > 3 else ''))
            elif key == 'op':
                if not IDENT.match(rest):
                    raise ManifestError('%s: op name "%s" is not an identifier' % (where, rest))
                cur = Op(rest, where)
                ops.append(cur)
            elif key == 'act':
                if not IDENT.match(rest):
                    raise ManifestError('%s: activation name "%s" is not an identifier' % (where, rest))
                cur = Op(rest, where)
                ops.extend(activation_ops(cur))
            else:
                raise ManifestError('%s: unknown entry "%s" (step, op or act)' % (where, key))
            continue
        if cur is None:
            raise ManifestError('%s: indented line outside an op entry' % where)
        if cur.act is not None:
            # an activation entry: the two tolerances and the doc; everything else is implied
            if key not in ('tol', 'tol_backward', 'doc'):
                raise ManifestError('%s: an act entry takes tol, tol_backward and doc only, not "%s"' % (where, key))
            if key == 'doc':
                cur.doc.append(rest)
                continue
            tol = parse_tol(rest, where)
            if key == 'tol':
                cur.tol = tol
                if cur.pair.tol is None or cur.pair.tol_implied:
                    cur.pair.tol, cur.pair.tol_implied = tol, True
            else:
                cur.pair.tol, cur.pair.tol_implied = tol, False
            continue
        if key == 'family':
            if rest not in FAMILIES:
                raise ManifestError('%s: family "%s" is not one of %s' % (where, rest, ', '.join(FAMILIES)))
            cur.family = rest
        elif key == 'tol':
            cur.tol = parse_tol(rest, where)
        elif key == 'grad':
            if rest not in ('yes', 'no'):
                raise ManifestError('%s: grad must be yes or no' % where)
            cur.grad = rest == 'yes'
        elif key == 'pc':
            if cur.fields is not None or cur.share is not None:
                raise ManifestError('%s: op %s has two pc lines' % (where, cur.name))
            if rest.startswith('='):
                cur.share = rest[1:].strip()
            elif rest == 'none':
                cur.fields = []
            else:
                cur.fields = parse_fields(rest, where)
        elif key == 'shader':
            w = rest.split()
            if len(w) < 2 or not IDENT.match(w[0]) or not w[1].endswith('.comp'):
                raise ManifestError('%s: expected "shader VARIANT SOURCE.comp [DEFINE...]"' % where)
            for d in w[2:]:
                if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*(=[A-Za-z0-9_.+-]+)?$', d):
                    raise ManifestError('%s: define "%s" is not NAME or NAME=VALUE' % (where, d))
            cur.shaders.append((w[0], w[1], w[2:]))
        elif key == 'doc':
            cur.doc.append(rest)
        else:
            raise ManifestError('%s: unknown op attribute "%s"' % (where, key))
    check(ops, steps)
    return ops, steps


def check(ops, steps):
    by_name = {}
    variants = {}
    for op in ops:
        if op.name in by_name:
            raise ManifestError('%s: op %s defined twice' % (op.line, op.name))
        by_name[op.name] = op
        for attr in ('family', 'tol', 'grad'):
            if getattr(op, attr) is None:
                raise ManifestError('%s: op %s has no %s' % (op.line, op.name, attr))
        if op.fields is None and op.share is None:
            raise ManifestError('%s: op %s has no pc line' % (op.line, op.name))
        if not op.shaders:
            raise ManifestError('%s: op %s has no shader' % (op.line, op.name))
        for v in op.shaders:
            if v[0] in variants:
                raise ManifestError('%s: shader variant %s is already a variant of %s' % (op.line, v[0], variants[v[0]]))
            variants[v[0]] = op.name
    for op in ops:
        if op.share is not None:
            other = by_name.get(op.share)
            if other is None or other.share is not None:
                raise ManifestError('%s: op %s: "pc = %s" must name an op with a block of its own'
                                    % (op.line, op.name, op.share))
            op.fields = other.fields
    names, idx = set(), {}
    for name, index, typ, _ in steps:
        if name in names:
            raise ManifestError('step %s defined twice' % name)
        names.add(name)
        if typ != 'mark':
            if index in idx:
                raise ManifestError('step %s and %s share word %d' % (idx[index], name, index))
            idx[index] = name
    if 'WORDS' not in names:
        raise ManifestError('the step section needs a "step WORDS N mark" entry')
    words = [s[1] for s in steps if s[0] == 'WORDS'][0]
    for name, index, typ, _ in steps:
        if typ != 'mark' and index >= words:
            raise ManifestError('step %s: word %d is not below WORDS (%d)' % (name, index, words))


# ------------------------------------------------------------------------------------------- outputs
HEAD_C = '/* Generated by scripts/gen_ops.py from src/ops/ops.def: edit the manifest, not this file. */\n'
HEAD_GLSL = '// Generated by scripts/gen_ops.py from src/ops/ops.def: edit the manifest, not this file.\n'


def wrap(text, width):
    out, line = [], ''
    for w in text.split():
        if line and len(line) + 1 + len(w) > width:
            out.append(line)
            line = w
        else:
            line = (line + ' ' + w) if line else w
    if line:
        out.append(line)
    return out or ['']


def gen_pc_header(ops, steps):
    o = [HEAD_C, '/* The push-constant block of every op (byte for byte what its shader reads, see ldm_pc.glsl). */\n',
         '#ifndef LDM_OPS_PC_GEN_H\n#define LDM_OPS_PC_GEN_H\n#include <stddef.h>\n#include <stdint.h>\n']
    for fam in FAMILIES:
        own = [op for op in ops if op.family == fam and op.share is None and op.fields]
        if not own:
            continue
        o.append('\n/* ---- %s family (src/ops/%s.h) */\n' % (fam, fam))
        for op in own:
            users = [x.name for x in ops if x.pc_op == op.name]
            t = 'ldm_pc_' + op.name
            o.append('\n')
            doc = list(op.doc)
            if len(users) > 1:
                doc.append('Used by: %s.' % ', '.join(users))
            if doc:
                o.append('/* ' + '\n * '.join(doc) + ' */\n')
            o.append('typedef struct {\n')
            for typ, c, _ in op.fields:
                o.append('  %s %s;\n' % (C_TYPES[typ], c))
            o.append('} %s;\n' % t)
            o.append('_Static_assert(sizeof(%s) == %d, "%s: %d push-constant bytes");\n' % (t, 4 * len(op.fields), t,
                                                                                         4 * len(op.fields)))
            for i, (_, c, _) in enumerate(op.fields):
                o.append('_Static_assert(offsetof(%s, %s) == %d, "%s.%s at byte %d");\n' % (t, c, 4 * i, t, c, 4 * i))
    o.append('\n#endif\n')
    return ''.join(o)


def gen_op_list(ops, steps):
    o = [HEAD_C, '/* Every op, one LDM_OP(name) line each, in op-id order. Included repeatedly with different\n'
         ' * LDM_OP definitions (no include guard). */\n']
    for op in ops:
        o.append('LDM_OP(%s)\n' % op.name)
    return ''.join(o)


def gen_op_table(ops, steps):
    o = [HEAD_C, '/* Per-op manifest values, indexed by op id (included by core/ops.c only). */\n',
         '#include "ldm_ops_pc.h"\n\n',
         'static const struct {\n  const char *name, *family;\n  uint32_t pc_size;\n  double nmse_tol;\n'
         '  int grad;\n} ldm_op_manifest[] = {\n']
    for op in ops:
        size = '(uint32_t)sizeof(ldm_pc_%s)' % op.pc_op if op.fields else '0'
        o.append('  {"%s", "%s", %s, %s, %d},\n' % (op.name, op.family, size, op.tol, 1 if op.grad else 0))
    o.append('};\n')
    return ''.join(o)


def gen_shader_list(ops, steps):
    o = [HEAD_C, '/* Every shader variant, one LDM_SHADER(variant, op) line each, in manifest order (no include guard). */\n']
    for op in ops:
        for v in op.shaders:
            o.append('LDM_SHADER(%s, %s)\n' % (v[0], op.name))
    return ''.join(o)


def gen_step_h(ops, steps):
    o = [HEAD_C, '''/* The per-step values every replay reads: written by the host before each run, never re-recorded.
 * The same indices are STEP_* in the shaders (ldm_step.glsl, included by shaders/common.glsl). The step
 * tensor is a host-visible u32/f32 vector of LDM_STEP_WORDS words. */
#ifndef LDM_STEP_H
#define LDM_STEP_H
#ifdef __cplusplus
extern "C" {
#endif
enum {
''']
    for i, (name, index, typ, comment) in enumerate(steps):
        head = '  LDM_STEP_%s = %d%s' % (name, index, ',' if i + 1 < len(steps) else '')
        text = ((typ + ' ') if typ != 'mark' else '') + comment
        if not text.strip():
            o.append(head + '\n')
            continue
        col = max(len(head) + 1, 28)
        lines = wrap(text, 110 - col - 6)
        o.append('%-*s/* %s' % (col, head, lines[0]))
        for ln in lines[1:]:
            o.append('\n%s   %s' % (' ' * col, ln))
        o.append(' */\n')
    o.append('};\n#ifdef __cplusplus\n}\n#endif\n#endif\n')
    return ''.join(o)


def gen_glsl_pc(ops, steps):
    o = [HEAD_GLSL, '// The push-constant fields of the variant being compiled (meson passes -DLDM_VARIANT_<NAME>):\n'
         '//   layout(push_constant) uniform PC { LDM_PC_FIELDS } pc;\n']
    first = True
    for op in ops:
        for v in op.shaders:
            fields = ' '.join('%s %s;' % (GLSL_TYPES[t], g) for t, _, g in op.fields)
            o.append('#%s defined(LDM_VARIANT_%s)\n#define LDM_PC_FIELDS %s\n' % ('if' if first else 'elif', v[0].upper(),
                                                                                fields))
            first = False
    o.append('#endif\n')
    return ''.join(o)


def gen_glsl_step(ops, steps):
    o = [HEAD_GLSL, '// Step-buffer word indices (the same as LDM_STEP_* of ldm/step.h)\n']
    for name, index, typ, comment in steps:
        if name == 'WORDS':
            o.append('#define STEP_WORDS %d\n' % index)
        else:
            o.append('#define STEP_%s %d%s\n' % (name, index, ('  // ' + typ) if typ != 'mark' else ''))
    return ''.join(o)


def gen_meson_variants(ops, steps):
    return ''.join('%s %s%s\n' % (v[0], v[1], ''.join(' ' + d for d in v[2])) for op in ops for v in op.shaders)


def gen_act_list(ops, steps):
    o = [HEAD_C, '/* Every activation op (an `act NAME` entry of the manifest: the ops NAME and NAME_backward), one\n'
         ' * LDM_ACT(NAME) line each, in manifest order. Included repeatedly with different LDM_ACT definitions\n'
         ' * (no include guard): the CPU twins (cpu/kernels_elementwise.c), the references (ref/ref_basic.c),\n'
         ' * the default conformance cases (conform/cases_act.c) and the gradient checks (tests). */\n']
    for a in activations(ops):
        o.append('LDM_ACT(%s)\n' % a)
    return ''.join(o)


def act_doc(op):
    return op.doc or ['y = %s(x), elementwise' % op.name]


ACT_H_HEAD = '''/* The builders of the activation ops (the `act` entries of the op manifest): y = NAME(x) elementwise, a new
 * activation of the shape of x, differentiable (its backward op is NAME_backward). Included by ldm/ops.h. */
#ifndef LDM_ACTIVATIONS_H
#define LDM_ACTIVATIONS_H
#include "ldm/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

'''

ACT_C_HEAD = '''/* The activation ops (the `act` entries of the op manifest): for each NAME the builder ldm_NAME, its
 * backward emitter and the op descs of NAME and NAME_backward. Their element functions are written by hand:
 * act_NAME[_backward] (shaders/activations.glsl), ldm_cpu_act_NAME[_backward] (src/cpu/kernels_elementwise.c,
 * run by the CPU twins ldm_cpu_NAME[_backward] there) and ldm_ref_act_NAME[_backward] (src/ref/ref_basic.c). */
#include <stddef.h>
#include <stdint.h>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "ldm/ops.h"
#include "ops/autodiff.h"
#include "ops/basic.h"
#include "ops/builder.h"
'''

ACT_C_OP = '''
/* ================================================================= {a} */
static ldm_status bwd_{a}(ldm_graph *g, int ni) {{
  int x = g->n[ni].in[0];
  ldm_pc_{a}_backward pc = {{(uint32_t)g->t[x].numel, 0}};
  return LDM_EMIT_UNARY_BACKWARD(g, ni, {a}_backward, x, pc);
}}
int ldm_{a}(ldm_graph *g, int x) {{
  LDM_INPUTS(g, x);
  int out = ldm_new_like(g, x, "{a}");
  ldm_pc_{a} pc = {{(uint32_t)g->t[x].numel}};
  return ldm_node_emit(g, LDM_OP_{a}, &x, 1, &out, 1, &pc, sizeof pc, "{a}");
}}
const ldm_op_desc ldm_op_desc_{a} = {{"{a}", ldm_cpu_{a}, ldm_plan_1d_n, bwd_{a}}};
const ldm_op_desc ldm_op_desc_{a}_backward = {{"{a}_backward", ldm_cpu_{a}_backward, ldm_plan_1d_n, NULL}};
'''


def gen_act_h(ops, steps):
    o = [HEAD_C, ACT_H_HEAD]
    for op in ops:
        if op.act == op.name:
            o.append('/* %s */\n' % '\n * '.join(act_doc(op)))
            o.append('int ldm_%s(ldm_graph *g, int x);\n' % op.name)
    o.append('\n#ifdef __cplusplus\n}\n#endif\n#endif\n')
    return ''.join(o)


def gen_act_c(ops, steps):
    o = [HEAD_C, ACT_C_HEAD]
    for a in activations(ops):
        o.append(ACT_C_OP.format(a=a))
    return ''.join(o)


def gen_docs_table(ops, steps):
    return ''.join([
        '<!-- Generated by scripts/gen_ops.py from src/ops/ops.def: edit the manifest, not this file. -->\n',
        '# Op table\n\n',
        'Every op of the op manifest `src/ops/ops.def`, in op-id order (how to read it: `docs/ops.md`).\n\n',
        doc_ops_table(ops),
        '\n## Step-buffer words\n\n',
        '`ldm/step.h` (`STEP_*` in the shaders), written by the host before each run:\n\n',
        doc_step_table(steps)])


def check_table(ops, steps, table_path, doc_path):
    """The problems of the generated TABLE and of DOC (docs/ops.md), one line each."""
    bad = []
    with open(table_path, encoding='utf-8') as f:
        table = f.read()
    want = gen_docs_table(ops, steps)
    if table != want:
        bad.append('%s is not what the manifest makes (reconfigure the build):' % table_path)
        bad.extend(ln.rstrip('\n') for ln in difflib.unified_diff(table.splitlines(True), want.splitlines(True),
                                                                 table_path, 'from the manifest'))
    rows = {}
    for line in table.split('\n## ')[0].split('\n'):  # the op table: up to the step-buffer section
        m = re.match(r'^\| (\d+) \| `([A-Za-z0-9_]+)` \|', line)
        if m:
            rows[m.group(2)] = int(m.group(1))
    for i, op in enumerate(ops):
        if rows.get(op.name) != i:
            bad.append('%s: no row for op %d %s' % (table_path, i, op.name))
    if len(rows) != len(ops):
        bad.append('%s: %d op rows, the manifest has %d ops' % (table_path, len(rows), len(ops)))
    with open(doc_path, encoding='utf-8') as f:
        doc = f.read()
    if DOC_TABLE_NAME not in doc:
        bad.append('%s does not say where the generated table (%s) is' % (doc_path, DOC_TABLE_NAME))
    if DOC_STALE in doc or '| id | op |' in doc:
        bad.append('%s holds a copy of the op table: the table is a build product (%s)' % (doc_path, DOC_TABLE_NAME))
    return bad


GENERATORS = {
    '--pc-header': gen_pc_header,
    '--op-list': gen_op_list,
    '--op-table': gen_op_table,
    '--shader-list': gen_shader_list,
    '--step-h': gen_step_h,
    '--glsl-pc': gen_glsl_pc,
    '--glsl-step': gen_glsl_step,
    '--meson-variants': gen_meson_variants,
    '--act-list': gen_act_list,
    '--act-h': gen_act_h,
    '--act-c': gen_act_c,
    '--docs-table': gen_docs_table,
}


# ------------------------------------------------------------------------------------------- docs
def md_code(s):
    return '`%s`' % s


def doc_ops_table(ops):
    o = ['| id | op | family | shader variants (source, defines) | push constants (4 bytes each, in order) | '
         'NMSE tolerance | backward |\n', '|---|---|---|---|---|---|---|\n']
    for i, op in enumerate(ops):
        vs = []
        for v in op.shaders:
            vs.append('%s (%s%s)' % (md_code(v[0]), v[1], ''.join(' -D' + d for d in v[2])))
        if op.share:
            pc = 'as `%s`' % op.share
        elif not op.fields:
            pc = 'none'
        else:
            pc = ', '.join('%s %s' % (t, c if c == g else '%s (GLSL %s)' % (c, g)) for t, c, g in op.fields)
        o.append('| %d | %s | %s | %s | %s | %s | %s |\n' % (i, md_code(op.name), op.family, '<br>'.join(vs), pc,
                                                           op.tol, 'yes' if op.grad else ''))
    return ''.join(o)


def doc_step_table(steps):
    o = ['| word | `LDM_STEP_*` / `STEP_*` | type | meaning |\n', '|---|---|---|---|\n']
    for name, index, typ, comment in steps:
        o.append('| %d | `%s` | %s | %s |\n' % (index, name, typ if typ != 'mark' else '', comment))
    return ''.join(o)


def main(argv):
    args = list(argv)
    manifest = DEFAULT_MANIFEST
    if args and not args[0].startswith('--'):
        manifest = args.pop(0)
    if not args:
        sys.stderr.write(__doc__)
        return 2
    mode = args.pop(0)
    try:
        ops, steps = parse(manifest)
        if mode == '--check-table':
            if len(args) != 2:
                sys.stderr.write('gen_ops.py: --check-table TABLE DOC\n')
                return 2
            bad = check_table(ops, steps, args[0], args[1])
            for line in bad:
                sys.stderr.write(line + '\n')
            return 1 if bad else 0
        if mode not in GENERATORS:
            sys.stderr.write('gen_ops.py: unknown mode %s\n%s' % (mode, __doc__))
            return 2
        text = GENERATORS[mode](ops, steps)
    except ManifestError as e:
        sys.stderr.write('gen_ops.py: %s\n' % e)
        return 1
    out = args[0] if args else '-'
    if out == '-':
        sys.stdout.write(text)
    else:
        # rewrite only when the text changes, so that a reconfigure does not rebuild everything
        try:
            with open(out, encoding='utf-8') as f:
                if f.read() == text:
                    return 0
        except OSError:
            pass
        with open(out, 'w', encoding='utf-8') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
