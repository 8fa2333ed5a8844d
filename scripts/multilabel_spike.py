"""Temporary (issue 37, until `bertclf train` takes multi-label data; delete then): MiniLM
fine-tuned on the disaster messages with this branch's pieces (data, task, pipeline), a fixed
number of steps in bfloat16; thresholds tuned on validation; micro and macro F1 on all 2,629
test messages, to compare with scripts/disaster_baseline.py.

    BERTCLF_CACHE=... PYTHONPATH=src python scripts/multilabel_spike.py STEPS SEQ_LENGTH [none|balanced]
"""
import os, sys, time, json
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
SEQ = int(sys.argv[2]) if len(sys.argv) > 2 else 64
CLASS_WEIGHT = sys.argv[3] if len(sys.argv) > 3 else "none"  # none | balanced
import numpy as np
from bertclf.config import load_config
from bertclf.data import load_data
from bertclf.encoders import prepare_encoder, with_native_weights, load_preprocessor
from bertclf.encoders.registry import resolve_spec
from bertclf.runtime.tf_setup import setup_tensorflow
from bertclf.multilabel_task import MultiLabelTask
from bertclf.multilabel_metrics import multilabel_metrics, tune_thresholds
open("/tmp/multilabel_spike.yaml", "w").write(f"""
experiment: {{name: spike, seed: 42}}
data: {{format: csv, train_path: '${{BERTCLF_DATA}}/disaster_response/train.csv',
        validation_path: '${{BERTCLF_DATA}}/disaster_response/validation.csv',
        test_path: '${{BERTCLF_DATA}}/disaster_response/test.csv', text_column: message,
        multi_label: true, label_values: {{2: 1}}}}
model: {{encoder: minilm_l6_uncased, seq_length: {SEQ}, pooling: mean}}
train: {{epochs: 1, batch_size: 32, learning_rate: 1.0e-4}}
""")
config = load_config("/tmp/multilabel_spike.yaml")
tf = setup_tensorflow(config.runtime, 42)
import tf_keras
data = load_data(config.data, 42)
print("labels", len(data.class_names), "train", len(data.train), file=sys.stderr, flush=True)
tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
encoder = with_native_weights(prepare_encoder(resolve_spec(config.model), config.model, data.train.texts, 42))
pre = load_preprocessor(encoder.preprocess_handle)
from bertclf.training.pipeline import encode_split, training_dataset, predict_logits
from bertclf.model import build_classifier
from bertclf.training.optimizer import build_optimizer
task = MultiLabelTask(len(data.class_names)).with_class_weight(CLASS_WEIGHT, data.class_names, data.train.labels)
enc = {name: encode_split(getattr(data, name), pre, SEQ, "head", progress=None) for name in ("train", "validation", "test")}
epochs = -(-STEPS * 32 // len(data.train))
model = build_classifier(encoder, task, config.model)
model.compile(optimizer=build_optimizer(config.train, STEPS), **task.compile_arguments())
ds = training_dataset(enc["train"], 32, task, 42, 0, epochs, True)
t = time.time()
model.fit(ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
fit = time.time() - t
probs = {n: task.probabilities(predict_logits(model, enc[n], 64, True)).numpy() for n in ("validation", "test")}
truth = {n: task.targets(getattr(data, n).labels).astype(np.int8) for n in ("validation", "test")}
th, _ = tune_thresholds(truth["validation"], probs["validation"])
res = {"steps": STEPS, "seq": SEQ, "class_weight": CLASS_WEIGHT, "fit_seconds": round(fit, 1), "examples_seen": STEPS * 32}
for name, thresholds in (("0.5", 0.5), ("per_label", th)):
    m = multilabel_metrics(truth["test"], probs["test"], data.class_names, thresholds)
    v = multilabel_metrics(truth["validation"], probs["validation"], data.class_names, thresholds)
    res[name] = {"test_micro_f1": round(m["micro_f1"], 4), "test_macro_f1": round(m["macro_f1"], 4),
                 "validation_micro_f1": round(v["micro_f1"], 4), "validation_macro_f1": round(v["macro_f1"], 4)}
# one global threshold chosen on validation micro-F1, like the baseline's
grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
best = max(grid, key=lambda t: multilabel_metrics(truth["validation"], probs["validation"], data.class_names, t)["micro_f1"])
m = multilabel_metrics(truth["test"], probs["test"], data.class_names, best)
res["one_threshold"] = {"threshold": float(best), "test_micro_f1": round(m["micro_f1"], 4), "test_macro_f1": round(m["macro_f1"], 4)}
print(json.dumps(res, indent=1))
