#!/usr/bin/env bash
# Regenerates every file under benchmarks/results/ (needs the real datasets: LMREC_DATA_HOME, default
# ../shared/data). The foundation benchmarks take roughly 30-60 minutes on 2 cores, the sequence-model
# benchmarks (issue 3) several hours more; each line can also be run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LMREC_DATA_HOME=${LMREC_DATA_HOME:-../shared/data}
export OPENBLAS_NUM_THREADS=1
L=.venv/bin/lmrec
$L run benchmarks/configs/p1_ml100k.yaml --out benchmarks/results/p1_ml100k --quiet
$L run benchmarks/configs/p1_ml_latest_small.yaml --out benchmarks/results/p1_ml_latest_small --quiet
$L run benchmarks/configs/p1peer_ml100k.yaml --out benchmarks/results/p1peer_ml100k --quiet
$L run benchmarks/configs/p1peer_ml_latest_small.yaml --out benchmarks/results/p1peer_ml_latest_small --quiet
for f in p1peer_ml100k_recency p1_ml100k_recency p1peer_ml_latest_small_recency p1_ml_latest_small_recency; do
  $L run benchmarks/configs/$f.yaml --out benchmarks/results/$f --quiet
done
$L run benchmarks/configs/p3_ml100k_rating.yaml --out benchmarks/results/p3_ml100k_rating --quiet
$L run benchmarks/configs/p2_beauty_exclude_seen.yaml --out benchmarks/results/p2_beauty_exclude_seen --quiet
$L run benchmarks/configs/p2_beauty_all_items.yaml --out benchmarks/results/p2_beauty_all_items --quiet
.venv/bin/python benchmarks/scale.py --out benchmarks/results/scale
.venv/bin/python benchmarks/scale.py --ray local --out benchmarks/results/scale_ray
# issue 21: evaluation throughput against implicit and torch.topk (BLAS threads as a user has them: the
# committed run had no OPENBLAS_NUM_THREADS) and the top-k engines alone (idle machine)
env -u OPENBLAS_NUM_THREADS .venv/bin/python benchmarks/eval_throughput.py --out benchmarks/results/eval_throughput
.venv/bin/python benchmarks/topk.py --out benchmarks/results/topk
# issue 5: ANN recall/latency and the service load test (run these on an otherwise idle machine)
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ann.py --out benchmarks/results/ann
.venv/bin/python benchmarks/load.py --out benchmarks/results/load
# issue 17: peak RSS and /health latency under a burst of costly and hostile requests; batch serialiser
.venv/bin/python benchmarks/service_limits.py --out benchmarks/results/service_limits
# issue 3: sequence and text-aware models (P2 with SASRec/BERT4Rec/GRU4Rec next to EASE/ItemKNN; P4 slices)
# (P4 cold runs have warm companions since issue 16: same models and training data, the other test targets)
for c in p2_ml100k_seq p2_ml100k_seq_all_items p4_ml100k_cold p4_ml100k_warm p4_ml100k_rare \
  p4_ml_latest_small_cold p4_ml_latest_small_warm p4_ml_latest_small_rare p2_beauty_seq p2_beauty_bert4rec \
  p2_beauty_seq_all_items p2_toys_seq p2_toys_bert4rec p2_sports_seq p2_sports_bert4rec p2_yelp_seq \
  p2_yelp_bert4rec p2_games_seq p2_games_bert4rec; do
  $L run benchmarks/configs/$c.yaml --out benchmarks/results/$c --quiet
done
# issue 3: Beauty SASRec against the published anchors (searches and ablations; Toys checks positions: end)
for c in p2_beauty_sasrec_tuning p2_beauty_sasrec_sampled p2_beauty_sasrec_anchor_shape \
  p2_beauty_sasrec_anchor_sampled p2_beauty_sasrec_positions_end p2_beauty_sasrec_table_dropout \
  p2_beauty_sasrec_end_table_dropout p2_beauty_sasrec_end_td01 p2_beauty_sasrec_end_td03 \
  p2_beauty_sasrec_positions p2_toys_sasrec_positions; do
  $L run benchmarks/configs/$c.yaml --out benchmarks/results/$c --quiet
done
# issue 4: hybrids and the ranking stage, click prediction, cascade latency (uses the ML-100K hybrids' models)
for c in p2_ml100k_hybrids p2_beauty_hybrids p2_toys_hybrids p2_sports_hybrids; do
  $L run benchmarks/configs/$c.yaml --out benchmarks/results/$c --quiet
done
.venv/bin/python benchmarks/ctr.py --out benchmarks/results/ctr_ml100k
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cascade_latency.py --out benchmarks/results/cascade_latency
# issue 16: textseq (text-based sequential model) on P5 Scientific against the VQ-Rec anchor, both ranking
# variants, and its cold/warm slices (the runs write MiniLM embeddings to the cache; a rerun encodes none)
for c in p5_scientific p5_scientific_exclude_seen p5_scientific_finetune p5_scientific_finetune_lr1e5 \
    p5_scientific_finetune_transductive p5_scientific_widen p4_scientific_cold p4_scientific_warm \
    p4_scientific_cold_blend p4_scientific_warm_blend p4_ml100k_cold_blend; do
  $L run benchmarks/configs/$c.yaml --out benchmarks/results/$c --quiet
done
# issue 16: cold-item score offset for textseq (selection rules, test sweep as a diagnostic)
.venv/bin/python benchmarks/cold_offset.py --out benchmarks/results/cold_offset
# issue 19: augmentation over 5 seeds (each file: every model without and with every augmenter; the Toys
# files take hours: --resume continues where a stopped run left off), CFGAN as a recommender and its epoch
# cost, the Toys ALS those runs fix
$L run benchmarks/configs/p1_ml100k_cfgan.yaml --out benchmarks/results/p1_ml100k_cfgan --quiet
for c in p2_toys_als p2_toys_als_widen; do
  $L run benchmarks/configs/$c.yaml --out benchmarks/results/$c --quiet
done
for c in augment_ml100k augment_ml100k_sasrec; do
  OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/augment.py benchmarks/configs/$c.yaml --resume \
    --out benchmarks/results/$c
done
for c in augment_toys augment_toys_sasrec; do
  OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/augment.py benchmarks/configs/$c.yaml --buckets 4,6,10 \
    --resume --out benchmarks/results/$c
done
.venv/bin/python benchmarks/cfgan_epoch.py --out benchmarks/results/cfgan_epoch
# issue 18: simulator cost, 10,000 users x 100 rounds (run it on an otherwise idle machine)
.venv/bin/python benchmarks/sim_scale.py --out benchmarks/results/sim_scale
# issue 22, item 3: search cost, Optuna (TPE) against the P1 grids at an equal trial budget, 3 seeds
.venv/bin/python benchmarks/search_cost.py --out benchmarks/results/search_cost
# a search fits once per reg for ease_recency's reg x recency grid (scoring_params) against a fit per candidate
for c in p1_ml100k_recency p1_ml_latest_small_recency; do
  .venv/bin/python benchmarks/search_reuse.py --config benchmarks/configs/$c.yaml
done
.venv/bin/python benchmarks/summarize.py
