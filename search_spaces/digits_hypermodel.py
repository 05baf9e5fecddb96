"""A KerasTuner build_model(hp) on scikit-learn's digits, run as it is: Optuna answers its hp."""

from search_spaces.digits_space import load_data
from sweeper import Space


def build_model(hp):
    """Written for KerasTuner: a loop of layers, a conditional scope, compiled here."""
    import keras

    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("layers", 1, 2)):
        model.add(
            keras.layers.Dense(
                hp.Int(f"units_{i}", 16, 128, step=16),
                activation=hp.Choice("activation", ["relu", "tanh"]),
            )
        )
    if hp.Boolean("dropout"):
        with hp.conditional_scope("dropout", [True]):
            model.add(keras.layers.Dropout(hp.Float("dropout_rate", 0.1, 0.5)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


SPACE = Space(
    hypermodel=build_model,
    training=None,  # the hypermodel compiles its own optimizer, loss and metrics
    load_data=load_data,
    objective="val_accuracy",
    max_epochs=8,
    patience=2,
    n_trials=12,
)
