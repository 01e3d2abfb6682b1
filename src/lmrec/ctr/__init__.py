"""Click-through prediction: categorical field encoding and LR / Wide&Deep / DeepFM / NeuMF networks.

enc = FieldEncoder().fit(train_columns, train_genres)
model = CTRModel(model="deepfm").fit(enc.transform(...), y, enc.transform(...), y_valid, seed=0)
p = model.predict_proba(enc.transform(test_columns, test_genres))
"""

from lmrec.ctr.fields import FieldData, FieldEncoder
from lmrec.ctr.model import CTRConfig, CTRModel

__all__ = ["CTRConfig", "CTRModel", "FieldData", "FieldEncoder"]
