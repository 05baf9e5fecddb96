"""A small MLP on scikit-learn's bundled 8x8 digits: a full sweep in seconds, offline."""

from sweeper import Categorical, Dataset, Int, Space, Training, split_validation

SPLIT_SEED = 0


def load_data(data_dir=None) -> Dataset:
    """1,797 digits shipped with scikit-learn: 64% train, 16% validation, 20% test."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_rest, y_rest, x_test, y_test = split_validation(x, y, 0.2, SPLIT_SEED)
    x_train, y_train, x_val, y_val = split_validation(x_rest, y_rest, 0.2, SPLIT_SEED)
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, num_classes=10)


def build_model(params, data: Dataset):
    import keras  # imported here so listing and showing spaces stays fast

    inputs = keras.Input(shape=data.input_shape)
    x = inputs
    for _ in range(params["hidden_layers"]):
        x = keras.layers.Dense(params["units"], activation=params["activation"])(x)
        x = keras.layers.Dropout(params["dropout"])(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


SPACE = Space(
    params=[
        Int("hidden_layers", 1, 2),
        Int("units", 16, 128, log=True),
        Categorical("activation", ("relu", "tanh")),
    ],
    training=Training(batch_sizes=(16, 32, 64), learning_rate=(1e-3, 3e-1)),
    build_model=build_model,
    load_data=load_data,
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="maximize",
    max_epochs=8,
    patience=2,
    n_trials=12,
)
