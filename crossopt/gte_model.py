"""The gte-multilingual-base architecture, written for transformers 5.

`Alibaba-NLP/gte-multilingual-base` ships no model code of its own: its config
names `model_type: "new"` and points `auto_map` at the hub repository
`Alibaba-NLP/new-impl`. That code targets transformers 4.x and does not run on
the study's pinned transformers 5.24: it calls `get_extended_attention_mask`
(gone in 5.x) on every padded forward pass, and it keeps `position_ids` and the
rotary tables as non-persistent buffers that 5.x allocates empty when it
builds the model on the meta device and never fills.

This module is an implementation of the same architecture from its published
description and the checkpoint's config fields and parameter names, so that the
hub weights load into it unchanged:

* embeddings: token (+ token-type) embeddings, LayerNorm, dropout; positions
  enter through rotary embeddings (RoPE, `rope_theta`; optional fixed NTK
  scaling via `rope_scaling: {type: ntk, factor, mixed_b}`) or, with
  `position_embedding_type: absolute`, a learned table;
* `num_hidden_layers` post-norm blocks: self-attention with one packed
  `qkv_proj` (or `q_proj`/`k_proj`/`v_proj`) and `o_proj`, residual, `attn_ln`;
  a gated MLP (`up_gate_proj` without bias gives [up, gate]; act(gate) * up;
  `down_proj`), residual, `mlp_ln`;
* a BERT pooler (`dense` + tanh on the first token) and a `classifier` for
  sequence classification, under the base-model prefix `new`.

Parameter names: `new.embeddings.{word_embeddings,token_type_embeddings,LayerNorm}`,
`new.encoder.layer.<i>.attention.{qkv_proj,o_proj}`, `...mlp.{up_gate_proj,down_proj}`,
`...{attn_ln,mlp_ln}`, `new.pooler.dense`, `classifier`.

Buffers. `position_ids`, `inv_freq`, `cos_cached` and `sin_cached` are
non-persistent (never saved) and are recomputed from the config in
`_init_weights`, which transformers 5 calls for every module it did not load
from the checkpoint, also after building the model on the meta device; the same
function computes them at construction. That keeps one definition of the tables
(`rotary_tables`) and makes a loaded model compute exactly what a freshly built
one does.

Differences from the hub code that do not change results: attention always runs
through `torch.nn.functional.scaled_dot_product_attention` on padded batches
(`unpad_inputs` and `use_memory_efficient_attention` select xformers kernels
there; unpadding changes speed, not the function computed), and
`position_ids`/`rope` tables are indexed the same way.

`register()` makes AutoConfig / AutoModel / AutoModelForSequenceClassification
resolve `model_type: "new"` to these classes; loading with
`trust_remote_code=False` then uses them instead of the hub code.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

MODEL_TYPE = "new"  # what gte-multilingual-base's config.json says


class GteConfig(PretrainedConfig):
    """Config of the architecture; field names are those of the hub checkpoint's config.json."""

    model_type = MODEL_TYPE
    # Shadows transformers 5's `rope_scaling` property (an alias of `rope_parameters` that
    # standardises to its own RoPE types): this architecture reads the dict as written.
    rope_scaling = None

    def __init__(
        self,
        vocab_size: int = 250048,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.0,
        max_position_embeddings: int = 8192,
        type_vocab_size: int = 1,
        initializer_range: float = 0.02,
        layer_norm_type: str = "layer_norm",
        layer_norm_eps: float = 1e-12,
        position_embedding_type: str = "rope",
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        classifier_dropout: float | None = None,
        pack_qkv: bool = True,
        unpad_inputs: bool = False,
        use_memory_efficient_attention: bool = False,
        logn_attention_scale: bool = False,
        logn_attention_clip1: bool = False,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_type = layer_norm_type
        self.layer_norm_eps = layer_norm_eps
        self.position_embedding_type = position_embedding_type
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self.classifier_dropout = classifier_dropout
        self.pack_qkv = pack_qkv
        self.unpad_inputs = unpad_inputs
        self.use_memory_efficient_attention = use_memory_efficient_attention
        self.logn_attention_scale = logn_attention_scale
        self.logn_attention_clip1 = logn_attention_clip1
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}")
        if position_embedding_type not in ("rope", "absolute"):
            raise ValueError(f"position_embedding_type must be rope or absolute, got {position_embedding_type!r}")
        if layer_norm_type not in ("layer_norm", "rms_norm"):
            raise ValueError(f"layer_norm_type must be layer_norm or rms_norm, got {layer_norm_type!r}")
        if rope_scaling is not None and rope_scaling.get("type") != "ntk":
            raise ValueError(f"rope_scaling type {rope_scaling.get('type')!r} is not supported (only ntk)")


# ---------------------------------------------------------------------------
# Rotary tables


def rotary_frequencies(head_dim: int, base: float) -> torch.Tensor:
    """theta_i = base^(-2i/d) for i < d/2, in float32."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
    return 1.0 / (base ** exponents)


def rotary_tables(config: GteConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inv_freq, cos, sin) the architecture uses, for positions 0 .. table length - 1.

    Without `rope_scaling` the table covers `max_position_embeddings` positions with
    base `rope_theta`. With fixed NTK scaling by `factor` it covers factor times as
    many, and the frequencies are rescaled for the whole table: base becomes
    rope_theta * factor and every frequency is divided by factor^(2/d) (or, with
    `mixed_b`, by exp(a * j^mixed_b) for j = 1 .. d/2, a = ln(factor) / (d/2)^mixed_b).
    cos/sin rows are [freqs, freqs] (the rotate-half layout).
    """
    head_dim = config.hidden_size // config.num_attention_heads
    length = config.max_position_embeddings
    scaling = config.rope_scaling
    if scaling is None:
        inv_freq = rotary_frequencies(head_dim, config.rope_theta)
    else:
        factor = float(scaling["factor"])
        length = int(length * factor)
        mixed_b = scaling.get("mixed_b")
        if mixed_b is None:
            inv_freq = rotary_frequencies(head_dim, config.rope_theta * factor) / factor ** (2 / head_dim)
        else:
            a = math.log(factor) / (head_dim / 2) ** mixed_b
            j = torch.arange(1, head_dim // 2 + 1, dtype=torch.float32)
            inv_freq = rotary_frequencies(head_dim, config.rope_theta) / torch.exp(a * j ** mixed_b)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return inv_freq, angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class GteRotaryEmbedding(nn.Module):
    """Holds the rotary tables as buffers (not saved; recomputed by `_init_weights`)."""

    def __init__(self, config: GteConfig):
        super().__init__()
        self.config = config
        inv_freq, cos, sin = rotary_tables(config)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def reset_tables(self) -> None:
        inv_freq, cos, sin = rotary_tables(self.config)
        init.copy_(self.inv_freq, inv_freq)
        init.copy_(self.cos_cached, cos)
        init.copy_(self.sin_cached, sin)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for `position_ids` ([batch, length]) as [batch, length, 1, head_dim]."""
        needed = int(position_ids.max()) + 1 if position_ids.numel() else 0
        if needed > self.cos_cached.shape[0]:
            raise ValueError(f"position {needed - 1} is beyond the rotary table ({self.cos_cached.shape[0]} positions)")
        cos = self.cos_cached[position_ids].unsqueeze(2).to(dtype)
        sin = self.sin_cached[position_ids].unsqueeze(2).to(dtype)
        return cos, sin


class GteRMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def make_norm(config: GteConfig) -> nn.Module:
    if config.layer_norm_type == "rms_norm":
        return GteRMSNorm(config.hidden_size, config.layer_norm_eps)
    return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


# ---------------------------------------------------------------------------
# Layers


class GteEmbeddings(nn.Module):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        if config.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                    padding_idx=config.pad_token_id)
        else:
            self.rotary_emb = GteRotaryEmbedding(config)
        if config.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings), persistent=False)

    def reset_positions(self) -> None:
        init.copy_(self.position_ids, torch.arange(self.config.max_position_embeddings))

    def forward(self, input_ids, token_type_ids=None, position_ids=None, inputs_embeds=None):
        embeddings = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        batch, length = embeddings.shape[:2]
        if position_ids is None:
            if length > self.position_ids.shape[0]:
                raise ValueError(f"input of {length} tokens is longer than max_position_embeddings "
                                 f"({self.position_ids.shape[0]})")
            position_ids = self.position_ids[:length].unsqueeze(0).expand(batch, -1)
        if self.config.type_vocab_size > 0:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(position_ids)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        rope = None
        if self.config.position_embedding_type == "absolute":
            embeddings = embeddings + self.position_embeddings(position_ids)
        else:
            rope = self.rotary_emb(position_ids, embeddings.dtype)
        return self.dropout(self.LayerNorm(embeddings)), rope


class GteAttention(nn.Module):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.config = config
        self.heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        width = self.heads * self.head_dim
        if config.pack_qkv:
            self.qkv_proj = nn.Linear(config.hidden_size, 3 * width)
        else:
            self.q_proj = nn.Linear(config.hidden_size, width)
            self.k_proj = nn.Linear(config.hidden_size, width)
            self.v_proj = nn.Linear(config.hidden_size, width)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, hidden, bias, rope, scale):
        batch, length, _ = hidden.shape
        if self.config.pack_qkv:
            q, k, v = self.qkv_proj(hidden).chunk(3, dim=-1)
        else:
            q, k, v = self.q_proj(hidden), self.k_proj(hidden), self.v_proj(hidden)
        q, k, v = (t.view(batch, length, self.heads, self.head_dim) for t in (q, k, v))
        if rope is not None:
            cos, sin = rope
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        if scale is not None:
            q = q * scale.to(q.dtype)
        out = nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias.to(q.dtype),
            dropout_p=self.dropout_p if self.training else 0.0,
        )
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


class GteGatedMLP(nn.Module):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.up_gate_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden):
        up, gate = self.up_gate_proj(hidden).split(self.intermediate_size, dim=-1)
        return self.down_proj(self.dropout(self.act(gate) * up))


class GteLayer(GradientCheckpointingLayer):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.attention = GteAttention(config)
        self.mlp = GteGatedMLP(config)
        self.attn_ln = make_norm(config)
        self.mlp_ln = make_norm(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden, bias, rope=None, scale=None):
        hidden = self.attn_ln(hidden + self.dropout(self.attention(hidden, bias, rope, scale)))
        return self.mlp_ln(hidden + self.dropout(self.mlp(hidden)))


class GteEncoder(nn.Module):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.layer = nn.ModuleList(GteLayer(config) for _ in range(config.num_hidden_layers))


class GtePooler(nn.Module):
    def __init__(self, config: GteConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden):
        return self.activation(self.dense(hidden[:, 0]))


# ---------------------------------------------------------------------------
# Models


class GtePreTrainedModel(PreTrainedModel):
    config_class = GteConfig
    base_model_prefix = "new"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, GteRMSNorm):
            init.ones_(module.weight)
        elif isinstance(module, GteRotaryEmbedding):
            module.reset_tables()
        elif isinstance(module, GteEmbeddings):
            module.reset_positions()


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive key mask [batch, 1, 1, length]: 0 where attended, the dtype's minimum at padding."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class GteModel(GtePreTrainedModel):
    def __init__(self, config: GteConfig, add_pooling_layer: bool = False):
        super().__init__(config)
        self.embeddings = GteEmbeddings(config)
        self.encoder = GteEncoder(config)
        self.pooler = GtePooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_hidden_states=None, return_dict=None, **kwargs):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        device = input_ids.device if input_ids is not None else inputs_embeds.device
        if attention_mask is None:
            attention_mask = torch.ones(shape, device=device, dtype=torch.long)
        hidden, rope = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        bias = attention_bias(attention_mask, hidden.dtype)
        scale = None
        if self.config.logn_attention_scale:
            # log_{max_position_embeddings}(length of each input), optionally at least 1
            scale = attention_mask.sum(1).float().log() / math.log(self.config.max_position_embeddings)
            if self.config.logn_attention_clip1:
                scale = scale.clamp(min=1.0)
            scale = scale[:, None, None, None]
        states = (hidden,) if output_hidden_states else None
        for layer in self.encoder.layer:
            hidden = layer(hidden, bias, rope, scale)
            if output_hidden_states:
                states = states + (hidden,)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled, hidden_states=states)


class GteForSequenceClassification(GtePreTrainedModel):
    def __init__(self, config: GteConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.new = GteModel(config, add_pooling_layer=True)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.new(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.float().view(-1))
            else:
                loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


def register() -> None:
    """Resolve `model_type: "new"` to these classes in the Auto* factories (idempotent)."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    AutoConfig.register(MODEL_TYPE, GteConfig, exist_ok=True)
    AutoModel.register(GteConfig, GteModel, exist_ok=True)
    AutoModelForSequenceClassification.register(GteConfig, GteForSequenceClassification, exist_ok=True)
