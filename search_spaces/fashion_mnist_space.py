"""A batch-normalized CNN on Fashion-MNIST: filters, dense units, dropout and shared settings."""

from sweeper import Dataset, Int, Space, Training, load_fashion_mnist_arrays, split_validation

VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0


def load_data(data_dir=None) -> Dataset:
    """Fashion-MNIST: a seeded, stratified 10% of the training set for validation; the official
    test set kept aside for the winner."""
    import numpy as np

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist_arrays(data_dir)

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

    def conv_block(x, filters):
        # Two 3x3 convolutions before each pooling: clothes differ in texture and outline,
        # which one convolution per scale captures less well than it does MNIST's strokes.
        for _ in range(2):
            # No bias: the batch normalization right after it has its own shift.
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
        return keras.layers.MaxPooling2D()(x)

    inputs = keras.Input(shape=data.input_shape)
    x = conv_block(inputs, params["filters"])
    x = conv_block(x, 2 * params["filters"])
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(params["dropout"])(x)
    x = keras.layers.Dense(params["units"], use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Dropout(params["dropout"])(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


SPACE = Space(
    params=[
        Int("filters", 16, 64, step=16),
        Int("units", 64, 512, log=True),
    ],
    training=Training(batch_sizes=(64, 128, 256), learning_rate=(1e-4, 1e-2)),
    build_model=build_model,
    load_data=load_data,
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
    objective="val_accuracy",
    direction="maximize",
    max_epochs=15,
    patience=3,
    n_trials=30,
)
