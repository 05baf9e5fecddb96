"""A small CNN on MNIST: conv filters, dense units, dropout and every shared hyperparameter."""

from sweeper import Dataset, Int, Space, Training, load_mnist_arrays, split_validation

VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0


def load_data(data_dir=None) -> Dataset:
    """MNIST: a seeded, stratified 10% of the training set for validation; the official
    test set kept aside for the winner."""
    import numpy as np

    (x_train, y_train), (x_test, y_test) = load_mnist_arrays(data_dir)

    def prepare(x):
        return (x.astype(np.float32) / 255.0)[..., np.newaxis]

    x_train, y_train, x_val, y_val = split_validation(
        prepare(x_train), y_train.astype(np.int64), VALIDATION_FRACTION, SPLIT_SEED
    )
    return Dataset(
        x_train, y_train, x_val, y_val, prepare(x_test), y_test.astype(np.int64), num_classes=10
    )


def build_model(params, data: Dataset):
    import keras  # imported here so listing and showing spaces stays fast

    filters = params["filters"]
    return keras.Sequential(
        [
            keras.Input(shape=data.input_shape),
            keras.layers.Conv2D(filters, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(2 * filters, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(params["dropout"]),
            keras.layers.Dense(params["units"], activation="relu"),
            keras.layers.Dropout(params["dropout"]),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )


SPACE = Space(
    params=[
        Int("filters", 16, 48, step=16),
        Int("units", 32, 256, log=True),
    ],
    training=Training(batch_sizes=(64, 128, 256), learning_rate=(1e-4, 1e-1)),
    build_model=build_model,
    load_data=load_data,
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="maximize",
    max_epochs=10,
    patience=3,
    n_trials=30,
)
