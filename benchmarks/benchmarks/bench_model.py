"""Model-level speed and memory: one training step (forward, backward, Adam) and predict."""

from .common import model_problem


def _warm_problem(cell, dtype, shape):
    """``model_problem``'s model and batch, with one training step and one prediction run (compiled)."""
    model, x, y = model_problem(cell, dtype, shape)
    model.train_on_batch(x, y)
    model.predict_on_batch(x)
    return model, x, y


class TrainStep:
    params = (["lstm", "gru", "simple"], ["float32", "float64"], ["S1", "S2", "S3", "S4", "S5"])
    param_names = ["cell", "dtype", "shape"]
    timeout = 600

    def setup(self, cell, dtype, shape):
        self.model, self.x, self.y = _warm_problem(cell, dtype, shape)  # compiled outside timing

    def time_train_step(self, cell, dtype, shape):
        self.model.train_on_batch(self.x, self.y)

    def time_predict(self, cell, dtype, shape):
        self.model.predict_on_batch(self.x)

    def peakmem_train_step(self, cell, dtype, shape):
        self.model.train_on_batch(self.x, self.y)


class Predict:
    """Inference-only shapes: one sequence's latency (L1), a few sequences' (N5: 3, N6: 8) and bulk inference (L2)."""

    params = (["lstm", "gru", "simple"], ["float32", "float64"], ["L1", "N5", "N6", "L2"])
    param_names = ["cell", "dtype", "shape"]
    timeout = 300

    def setup(self, cell, dtype, shape):
        self.model, self.x, _ = model_problem(cell, dtype, shape)
        self.model.predict_on_batch(self.x)  # compile outside timing

    def time_predict(self, cell, dtype, shape):
        self.model.predict_on_batch(self.x)

    def peakmem_predict(self, cell, dtype, shape):
        self.model.predict_on_batch(self.x)


class TutorialScore:
    """Quality beside speed: the sum-of-a-sequence tutorial's MSE after 30 epochs."""

    timeout = 300

    def track_sequence_sum_mse(self):
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from examples import tutorial_sequence_sum

        return tutorial_sequence_sum.main(epochs=30, verbose=0)[1]

    track_sequence_sum_mse.unit = "MSE"


class PlannedStep:
    """The planned training step and prediction (numbarnn.models.planned) against the layer-by-layer path.

    Same model, weights and batch; ``plan_steps`` off runs every layer through the
    layer graph, as before plans were kept. Their results are bit for bit the same
    (tests/test_planned.py); only the time differs.
    """

    params = (["lstm", "gru"], ["S1", "S3", "S5", "N1", "L1"], ["planned", "layer by layer"])
    param_names = ["cell", "shape", "path"]
    timeout = 300

    def setup(self, cell, shape, path):
        self.model, self.x, self.y = _warm_problem(cell, "float32", shape)  # compiled outside timing
        self.model.plan_steps = path == "planned"
        self.model.train_on_batch(self.x, self.y)  # the chosen path warmed too

    def time_train_step(self, cell, shape, path):
        self.model.train_on_batch(self.x, self.y)

    def time_predict(self, cell, shape, path):
        self.model.predict_on_batch(self.x)
