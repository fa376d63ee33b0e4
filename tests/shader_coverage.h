/* Every shader variant embedded in ldm-vk, by name. test_conformance checks both ways: each embedded
 * shader is listed here, and each listed shader is launched by at least one conformance case (in the
 * default or the low-limits run). Append a line per new shader variant. */
static const char *const expected_shaders[] = {
    "fill",
    "copy",
    "philox_fill",
    "gemm",
    "gemm_naive",
    "ew_binary",
    "ew_scale",
    "silu",
    "silu_backward",
    "reduce_sum",
    "broadcast",
    "mse_loss",
    "mse_loss_backward",
    "sgd",
    "adamw",
};
