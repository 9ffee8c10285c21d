"""Helpers for testing models and data: the model contract and tiny generated data sets."""

from lepton.testing._contract import ContractError, check_model_contract
from lepton.testing._data import tiny_images, tiny_table, tiny_texts

__all__ = ["ContractError", "check_model_contract", "tiny_images", "tiny_table", "tiny_texts"]
