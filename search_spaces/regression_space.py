"""An MLP regression on scikit-learn's bundled diabetes data: validation MAE, minimized."""

from sweeper import Categorical, Dataset, Int, Space, Training, split_validation

SPLIT_SEED = 0


def load_data(data_dir=None) -> Dataset:
    """442 patients, 10 features, one year's disease progression: 64% train, 16% validation,
    20% test. Features and target are standardized with the training part's mean and
    deviation, so MAE is in standard deviations of the target (x 77.1 for progression
    points)."""
    import numpy as np
    from sklearn.datasets import load_diabetes

    diabetes = load_diabetes()
    x, y = diabetes.data.astype(np.float32), diabetes.target.astype(np.float32)
    x_rest, y_rest, x_test, y_test = split_validation(x, y, 0.2, SPLIT_SEED)
    x_train, y_train, x_val, y_val = split_validation(x_rest, y_rest, 0.2, SPLIT_SEED)
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = y_train.mean(), y_train.std()

    def features(part):
        return (part - x_mean) / x_std

    def target(part):
        return ((part - y_mean) / y_std)[:, np.newaxis]

    return Dataset(
        features(x_train),
        target(y_train),
        features(x_val),
        target(y_val),
        features(x_test),
        target(y_test),
    )


def build_model(params, data: Dataset):
    import keras  # imported here so listing and showing spaces stays fast

    inputs = keras.Input(shape=data.input_shape)
    x = inputs
    for _ in range(params["hidden_layers"]):
        x = keras.layers.Dense(params["units"], activation=params["activation"])(x)
        x = keras.layers.Dropout(params["dropout"])(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


SPACE = Space(
    params=[
        Int("hidden_layers", 1, 3),
        Int("units", 8, 128, log=True),
        Categorical("activation", ("relu", "gelu", "tanh")),
    ],
    training=Training(
        optimizers=("adam", "adamw", "nesterov", "rmsprop"),
        learning_rate=(1e-4, 3e-2),
        batch_sizes=(16, 32, 64),
        dropout=(0.0, 0.3),
        # The loss is a parameter: squared error chases the outliers that MAE forgives;
        # Huber sits between the two, by its delta.
        losses=("mse", "mae", "huber"),
    ),
    build_model=build_model,
    load_data=load_data,
    loss="mse",  # only a default: every trial trains with the one it draws from losses
    metrics=["mae"],
    objective="val_mae",
    direction="minimize",
    max_epochs=60,
    patience=8,
    n_trials=30,
)
