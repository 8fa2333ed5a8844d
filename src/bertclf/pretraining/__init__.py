"""Continued masked-language-model pretraining of an encoder on unlabelled text (`bertclf pretrain`)."""
